"""What the service could not identify: said, never skipped."""
from __future__ import annotations

from collections.abc import Iterator

from ..conditions import described
from ..context import CheckContext, rule
from ..model import Finding, markdown_text
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
                              summary=f"Not checked: {markdown_text(line.input_text[:60])} could not be identified",
                              detail=(f"{line.ref} ({line.shown_text}) was NOT checked: "
                                      f"{markdown_text(result.reason)}. Give an RxNorm code, the generic name, or "
                                      "the brand with its strength."))
    unknown = [line for line in ctx.patient.medications if not ctx.resolutions[line.ref].resolved]
    if unknown:
        listed = "\n".join(f"- {line.ref}: {line.shown_text} ({markdown_text(ctx.resolutions[line.ref].reason)})"
                           for line in unknown)
        yield ctx.finding(spec, lines=[line.ref for line in unknown], drugs=[],
                          summary=(f"Not checked: {len(unknown)} current medication"
                                   f"{'s' if len(unknown) > 1 else ''} could not be identified"),
                          detail=("These current medications were NOT checked against the order (their interactions "
                                  f"are unknown to this service):\n{listed}"))


@rule("unresolved.not_assessed")
def not_assessed(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    """One finding for every line identified (RxNorm knows it) but made only of drugs the knowledge base has no
    stewardship facts for: said once, naming them, neither passed off as checked nor called unidentified."""
    lines = [line for line in list(ctx.patient.medications) + list(ctx.request.regimen)
             if isinstance(ctx.resolutions[line.ref], Resolution) and not ctx.resolutions[line.ref].assessed]
    if not lines:
        return
    names = list(dict.fromkeys(i.name for line in lines for i in ctx.resolutions[line.ref].ingredients))
    listed = "\n".join(
        f"- {line.ref}: {line.shown_text}, identified as "
        f"{' / '.join(markdown_text(i.name) for i in ctx.resolutions[line.ref].ingredients)}"
        f" ({markdown_text(ctx.resolutions[line.ref].identified_by)})" for line in lines)
    shown = ", ".join(markdown_text(name) for name in names)
    yield ctx.finding(spec, lines=[line.ref for line in lines], drugs=names,
                      summary=f"Identified, not assessed: {shown}",
                      detail=("These drugs were identified in RxNorm, but this service has no stewardship facts "
                              "for them, so no rule checked them (their interactions with the other drugs are not "
                              f"assessed here):\n{listed}"))


@rule("unresolved.ingredient")
def unresolved_ingredient(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for line in list(ctx.patient.medications) + list(ctx.request.regimen):
        result = ctx.resolutions[line.ref]
        if not isinstance(result, Resolution) or not result.assessed:
            continue  # nothing of it checked: unresolved.not_assessed says so, once for all such lines
        unknown = [i.name for i in result.unknown_ingredients]
        if not unknown and result.complete:
            continue
        what = ", ".join(markdown_text(name) for name in unknown) if unknown else \
            "a co-ingredient without an RxNorm code in the offline subset"
        yield ctx.finding(spec, lines=[line.ref], drugs=unknown,
                          summary=f"Partly checked: {what} in {line.ref} is outside the knowledge base"[:139],
                          detail=(f"{line.ref} ({line.shown_text}) contains {what}, which this service does not "
                                  "check; the other ingredients were checked."))


@rule("unresolved.condition")
def unresolved_condition(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    """One finding for all conditions not understood; one note for those understood only from their text."""
    from_text = [u for u in ctx.derived["conditionsUnderstood"] if u["matchedBy"] == "text"]
    if from_text:
        listed = [f"- {u['input']}: \"{markdown_text(u['text'][:120])}\" read as "
                  f"{', '.join(k.replace('_', ' ') for k in u['keywords'])} ({u['status']})" for u in from_text]
        yield ctx.finding(spec, code="unresolved.condition_text", drugs=[], lines=[u["input"] for u in from_text],
                          summary=(f"{len(from_text)} condition{'s' if len(from_text) > 1 else ''} understood from "
                                   "text, not from a code: please confirm"),
                          detail=("No known SNOMED CT / ICD-10-CM code; the condition was matched from its text as a "
                                  "whole phrase and used by the rules:\n" + "\n".join(listed)))
    unknown = ctx.derived["unknownConditions"]
    if not unknown:
        return
    listed = [markdown_text(described(ctx.patient.conditions[index])) for index in unknown]
    yield ctx.finding(spec, drugs=[], lines=[f"patient.conditions[{index}]" for index in unknown],
                      summary=(f"Condition not used: {listed[0][:80]} is not a known code" if len(listed) == 1 else
                               f"{len(listed)} condition codes not used: not conditions this service checks"),
                      detail=("These conditions do not map to a condition this service checks, so no rule used "
                              "them:\n" + "\n".join(f"- patient.conditions[{i}]: {t}" for i, t in zip(unknown, listed))))
