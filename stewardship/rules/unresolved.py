"""What the service could not identify: said, never skipped."""
from __future__ import annotations

from collections.abc import Iterator

from ..engine import CheckContext, rule
from ..model import Finding
from ..rulebook import Rule
from ..terminology import Resolution


@rule("unresolved.drug")
def unresolved_drug(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for line in list(ctx.patient.medications) + list(ctx.request.regimen):
        result = ctx.resolutions[line.ref]
        if not result.resolved:
            yield ctx.finding(spec, lines=[line.ref], drugs=[],
                              summary=f"Not checked: {line.input_text[:60]!s} could not be identified",
                              detail=(f"{line.ref} ({line.input_text}) was NOT checked: {result.reason}. Give an "
                                      "RxNorm code, the generic name, or the brand with its strength."))


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
    for index in ctx.derived["unknownConditions"]:
        given = ctx.patient.conditions[index]
        text = f"{given.get('system', '')}|{given.get('code', '')}" if isinstance(given, dict) else str(given)
        yield ctx.finding(spec, drugs=[], lines=[f"patient.conditions[{index}]"],
                          summary=f"Condition not used: {text[:90]} is not a known code",
                          detail=(f"patient.conditions[{index}] ({text}) does not map to a condition this service "
                                  "checks, so no rule used it."))
