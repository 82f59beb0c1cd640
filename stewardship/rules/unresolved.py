"""What the service could not identify: said, never skipped."""
from __future__ import annotations

from collections.abc import Iterator

from ..engine import CheckContext, rule
from ..model import Finding
from ..rulebook import Rule
from ..terminology import Resolution


@rule("unresolved.drug")
def unresolved_drug(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    """One finding per unidentified line being ordered; one finding for all unidentified current medications (an
    EHR's list often holds many drugs outside pain care, and seven identical warnings would drown the real ones)."""
    for line in ctx.request.regimen:
        result = ctx.resolutions[line.ref]
        if not result.resolved:
            yield ctx.finding(spec, lines=[line.ref], drugs=[],
                              summary=f"Not checked: {line.input_text[:60]!s} could not be identified",
                              detail=(f"{line.ref} ({line.input_text}) was NOT checked: {result.reason}. Give an "
                                      "RxNorm code, the generic name, or the brand with its strength."))
    unknown = [line for line in ctx.patient.medications if not ctx.resolutions[line.ref].resolved]
    if unknown:
        listed = "\n".join(f"- {line.ref}: {line.input_text} ({ctx.resolutions[line.ref].reason})" for line in unknown)
        yield ctx.finding(spec, lines=[line.ref for line in unknown], drugs=[],
                          summary=(f"Not checked: {len(unknown)} current medication"
                                   f"{'s' if len(unknown) > 1 else ''} could not be identified"),
                          detail=("These current medications were NOT checked against the order (their interactions "
                                  f"are unknown to this service):\n{listed}"))


@rule("unresolved.ingredient")
def unresolved_ingredient(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for line in list(ctx.patient.medications) + list(ctx.request.regimen):
        result = ctx.resolutions[line.ref]
        if not isinstance(result, Resolution):
            continue
        unknown = [i.name for i in result.unknown_ingredients]
        if not unknown and result.complete:
            continue
        what = ", ".join(unknown) if unknown else "a co-ingredient without an RxNorm code in the offline subset"
        yield ctx.finding(spec, lines=[line.ref], drugs=unknown,
                          summary=f"Partly checked: {what} in {line.ref} is outside the knowledge base"[:139],
                          detail=(f"{line.ref} ({line.input_text}) contains {what}, which this service does not "
                                  "check; the other ingredients were checked."))


@rule("unresolved.condition")
def unresolved_condition(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    unknown = ctx.derived["unknownConditions"]
    if not unknown:
        return

    def text(given: object) -> str:
        return f"{given.get('system', '')}|{given.get('code', '')}" if isinstance(given, dict) else str(given)

    listed = [text(ctx.patient.conditions[index]) for index in unknown]
    yield ctx.finding(spec, drugs=[], lines=[f"patient.conditions[{index}]" for index in unknown],
                      summary=(f"Condition not used: {listed[0][:80]} is not a known code" if len(listed) == 1 else
                               f"{len(listed)} condition codes not used: not conditions this service checks"),
                      detail=("These conditions do not map to a condition this service checks, so no rule used "
                              "them:\n" + "\n".join(f"- patient.conditions[{i}]: {t}" for i, t in zip(unknown, listed))))
