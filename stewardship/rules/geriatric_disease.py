"""Older adults and diseases: AGS Beers 2023 statements from drugdata/, and config/drug_disease.yaml."""
from __future__ import annotations

from collections.abc import Iterator

from ..context import CheckContext, rule
from ..model import Finding
from ..rulebook import Rule
from .common import suggestion, unverified_note

_VERB = {"avoid": "Avoid", "use_with_caution": "Use with caution:"}
_CONDITION_WORDS = {"falls": "history of falls", "dementia": "dementia", "heart_failure": "heart failure",
                    "delirium": "delirium"}


@rule("geriatric.beers")
def beers(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not ctx.aged(spec.thresholds["min_age"]):
        return
    present = {c for e in ctx.systemic() for c in e.classes}
    for exposure in ctx.distinct_systemic():
        statements = [b for b in exposure.ingredient.beers
                      if b.table in (2, 4) and b.carried_by is None and b.condition is None
                      and (b.min_age is None or ctx.age >= b.min_age)
                      and not present.intersection(b.except_with_classes)
                      and not (exposure.name == "aspirin" and not exposure.has("nsaid") and ">325" in (b.note or ""))]
        if not statements:
            continue
        strongest = min(statements, key=lambda b: (b.recommendation != "avoid", b.severity == "info"))
        severity = strongest.severity or spec.severity_for(strongest.recommendation)
        criterion = (strongest.note or strongest.source.locator).rstrip(".")
        yield ctx.finding(spec, code=f"geriatric.beers.{exposure.name.replace(' ', '_')}", severity=severity,
                          exposures=[exposure],
                          summary=f"{_VERB[strongest.recommendation]} {exposure.name} at age {ctx.age} "
                                  f"(AGS Beers 2023)",
                          detail="\n".join(f"- Beers 2023 Table {b.table}: {b.note or b.recommendation}{unverified_note(b)}"
                                           for b in statements),
                          citations=[b.source for b in statements],
                          suggestions=[suggestion(f"Reconsider {exposure.name} in an older adult: {criterion}",
                                                  "review", drug=exposure.name, line=exposure.line.ref)])


@rule("drug_disease.beers")
def beers_conditions(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for exposure in ctx.distinct_systemic():
        for statement in exposure.ingredient.beers:
            if statement.table != 3 or statement.carried_by or not ctx.has_condition(statement.condition):
                continue
            words = _CONDITION_WORDS.get(statement.condition, statement.condition.replace("_", " "))
            yield ctx.finding(spec, code=f"drug_disease.{statement.condition}.{exposure.name.replace(' ', '_')}",
                              severity=statement.severity or spec.severity_for(),
                              exposures=[exposure], summary=f"Avoid {exposure.name}: patient has {words}",
                              detail=f"AGS Beers 2023 Table 3 ({words}): {statement.note or 'avoid'}"
                                     f"{unverified_note(statement)}",
                              citations=[statement.source],
                              suggestions=[suggestion(f"Choose an alternative to {exposure.name} given {words}",
                                                      "substitute", drug=exposure.name, line=exposure.line.ref)])


def _matches(ctx: CheckContext, match, exposure) -> bool:
    if match["systemic"] and not exposure.systemic:
        return False
    if any(exposure.has(c) for c in match["exclude_classes"]):
        return False
    if match["classes"] and not any(exposure.has(c) for c in match["classes"]):
        return False
    if match["ingredients"] and exposure.name not in match["ingredients"]:
        return False
    if match["effect"] and exposure.grade(match["effect"]) < match["min_grade"]:
        return False
    weeks = match["min_gestational_weeks"]
    if weeks is not None and (ctx.patient.gestational_weeks is None or ctx.patient.gestational_weeks < weeks):
        return False
    if match["gestational_weeks_unknown"] and ctx.patient.gestational_weeks is not None:
        return False
    return True


@rule("drug_disease.table")
def drug_disease_table(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for entry in ctx.rulebook.drug_disease:
        if not entry.enabled or not ctx.has_condition(entry.condition):
            continue
        for exposure in ctx.distinct_exposures():
            if not _matches(ctx, entry.match, exposure):
                continue
            weeks = ctx.patient.gestational_weeks
            yield ctx.finding(spec, code=f"drug_disease.{entry.key}", severity=entry.severity, exposures=[exposure],
                              summary=entry.summary.format(drug=exposure.name,
                                                           weeks=f"{weeks:g}" if weeks is not None else "?"),
                              detail=entry.detail, sources=entry.sources,
                              suggestions=[suggestion(f"Choose an alternative to {exposure.name}", "substitute",
                                                      drug=exposure.name, line=exposure.line.ref)])
