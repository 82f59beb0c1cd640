"""Drug-drug interactions from drugdata/interactions.yaml: one function, registered once per finding category.

A row fires for each of its objects that the patient takes with one of its perpetrators (systemically: a cream,
shampoo or eye drop of an azole or a macrolide is not an inhibitor of the liver's enzymes). The severity is the row's;
its `severity_moderate` where every perpetrator present is only a moderate one by the FDA's table; info when the
object's or the perpetrator's fact is marked unverified (read only in a secondary copy).
"""
from __future__ import annotations

from collections.abc import Iterator

from ..context import TOPICAL_ROUTES, CheckContext, Exposure, rule
from ..interactions import INTERACTION_CATEGORIES, Interaction
from ..model import Finding
from ..rulebook import Rule
from .common import names, suggestion

_SUGGESTED_ACTION = {"critical": "substitute", "warning": "review", "info": "monitor"}


def _systemic(ctx: CheckContext) -> list[Exposure]:
    return [e for e in ctx.distinct_systemic() if e.route not in TOPICAL_ROUTES]


def _findings(ctx: CheckContext, spec: Rule, row: Interaction, exposures: list[Exposure]) -> Iterator[Finding]:
    targets = [(e, fact) for e in exposures for fact in [row.object_fact(e.name)] if fact is not None]
    if not targets:
        return
    # whether a drug is a perpetrator does not depend on the object: looked up once per drug, not once per pair
    perpetrating = [(e, fact) for e in exposures for fact in [row.perpetrator_fact(e.ingredient)] if fact is not None]
    for target, object_fact in targets:
        partners = [(e, fact) for e, fact in perpetrating if e.name != target.name]
        if not partners:
            continue
        unverified = [f.unverified for f in [object_fact] + [fact for _, fact in partners] if f.unverified]
        only_moderate = row.severity_moderate and all(fact.strength == "moderate" for _, fact in partners)
        severity = "info" if unverified else row.severity_moderate if only_moderate else row.severity
        perpetrators = [e for e, _ in partners]
        strengths = [f"{e.name} ({fact.strength})" for e, fact in partners if fact.strength]
        detail = row.detail.format(object=target.name, perpetrators=names(perpetrators))
        if strengths:
            detail += f"\n\nFDA classification: {', '.join(strengths)}."
        if unverified:
            detail += "\n\n**Not verified against the label text** (said for information only): " + "; ".join(
                dict.fromkeys(unverified)) + "."
        yield ctx.finding(
            spec, code=f"{spec.category}.interaction.{row.key}", severity=severity,
            exposures=[target] + perpetrators,
            summary=row.summary.format(object=target.name, perpetrators=names(perpetrators)),
            detail=detail,
            sources=(object_fact.source, *(fact.source for _, fact in partners), *row.sources),
            suggestions=[suggestion(row.advice, _SUGGESTED_ACTION[severity], drug=target.name,
                                    line=target.line.ref)])


def interaction_table(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    exposures = _systemic(ctx)
    for row in ctx.kb.interactions:
        if row.enabled and row.category == spec.category:
            yield from _findings(ctx, spec, row, exposures)


for _category in INTERACTION_CATEGORIES:
    rule(f"{_category}.interaction")(interaction_table)
