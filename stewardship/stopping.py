"""Stopping rules that hold over time: which drugs must earn their place, when they are reviewed, when the
stop-or-taper decision falls, what counts as benefit, and how to taper. Pure: dates come from `asOf`.

Said once, "review at 4 weeks, taper off at 6 weeks without benefit" is forgotten; so a check that starts (or
renews) such a drug schedules its reminders, and every later check measures the course against them.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml
from marshmallow import Schema, fields, validate

from .knowledge import (
    Citation,
    Citations,
    Ingredient,
    KnowledgeBase,
    KnowledgeBaseError,
    Taper,
    TaperSchema,
    load_checked,
)
from .model import PAIN_TYPES, Outcome

if TYPE_CHECKING:
    from .context import CheckContext, Exposure


class StoppingRuleSchema(Schema):
    enabled = fields.Boolean(required=True)
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    pain_types = fields.List(fields.String(validate=validate.OneOf(PAIN_TYPES)), load_default=list)
    label = fields.String(required=True)
    review_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 365))
    decision_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 730))
    re_review_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 730))
    sources = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


@dataclass(frozen=True)
class StoppingRule:
    key: str
    classes: tuple[str, ...]
    pain_types: tuple[str, ...]
    label: str
    review_days: int
    decision_days: int
    re_review_days: int
    sources: tuple[Citation, ...]

    def applies_to(self, classes: Iterable[str], pain_type: str | None) -> bool:
        if self.pain_types and pain_type not in self.pain_types:
            return False
        return not frozenset(classes).isdisjoint(self.classes)


@dataclass(frozen=True)
class StoppingBook:
    rules: tuple[StoppingRule, ...]
    tapers: dict[str, Taper]  # by ingredient or class: what config/ says, over drugdata's own taper facts
    benefit: str
    min_pain_reduction: float
    benefit_sources: tuple[Citation, ...]
    # rule_for's answers: the book does not change, and each check asks once per systemic drug
    _rule_memo: dict[tuple[frozenset[str], str | None], StoppingRule | None] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def rule_for(self, classes: Iterable[str], pain_type: str | None) -> StoppingRule | None:
        classes = frozenset(classes)  # (an exposure's classes are one already)
        key = (classes, pain_type)
        if key not in self._rule_memo:
            self._rule_memo[key] = next((r for r in self.rules if r.applies_to(classes, pain_type)), None)
        return self._rule_memo[key]

    def taper_for(self, ingredient: Ingredient) -> Taper | None:
        """config/'s taper for the ingredient, else for one of its classes, else drugdata's own."""
        if ingredient.name in self.tapers:
            return self.tapers[ingredient.name]
        by_class = next((self.tapers[c] for c in ingredient.classes if c in self.tapers), None)
        return by_class or ingredient.taper


def load_stopping_book(kb: KnowledgeBase, path: Path, override: dict | None, cite_with: dict) -> StoppingBook:
    """`cite_with`: every registered source, this file's own `sources:` among them (the rulebook loads those)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    citations = Citations(cite_with)

    def cite(text: str, where: str) -> Citation:
        return citations.cite(text, f"stopping_rules.yaml: {where}")

    specs = dict(raw.get("rules") or {})
    for key, change in ((override or {}).get("rules") or {}).items():
        specs[key] = {**specs.get(key, {}), **change}
    rules = []
    for key, spec in specs.items():
        loaded = load_checked(StoppingRuleSchema(), spec, f"stopping_rules.yaml: rule {key!r}")
        if loaded["decision_days"] < loaded["review_days"]:
            raise KnowledgeBaseError(f"stopping_rules.yaml: rule {key!r}: field decision_days: before review_days")
        for klass in loaded["classes"]:
            if klass not in kb.classes:
                raise KnowledgeBaseError(f"stopping_rules.yaml: rule {key!r}: field classes: unknown {klass!r}")
        if loaded["enabled"]:
            rules.append(StoppingRule(key, tuple(loaded["classes"]), tuple(loaded["pain_types"]), loaded["label"],
                                      loaded["review_days"], loaded["decision_days"], loaded["re_review_days"],
                                      tuple(cite(s, f"rule {key!r}") for s in loaded["sources"])))
    tapers = {}
    for name, spec in (raw.get("tapers") or {}).items():
        if name not in kb.ingredients and name not in kb.classes:
            raise KnowledgeBaseError(f"stopping_rules.yaml: tapers: {name!r} is neither an ingredient nor a class")
        loaded = load_checked(TaperSchema(), spec, f"stopping_rules.yaml: tapers.{name}")
        tapers[name] = Taper(loaded["min_days"], loaded["note"], cite(loaded["source"], f"tapers.{name}"))
    return StoppingBook(tuple(rules), tapers, raw.get("benefit", ""), float(raw.get("min_pain_reduction", 0.3)),
                        tuple(cite(s, "benefit_sources") for s in raw.get("benefit_sources", [])))


# ------------------------------------------------------------------------------------------ outcomes, tapers
def helped(outcome: Outcome, min_reduction: float) -> bool:
    """Benefit as documented: the clinician's word, or a pain score at least 30% below baseline."""
    if outcome.benefit:
        return True
    if outcome.pain_score is not None and outcome.baseline_pain_score:
        return (outcome.baseline_pain_score - outcome.pain_score) / outcome.baseline_pain_score >= min_reduction
    return False


def pain_change(outcome: Outcome) -> str:
    if outcome.pain_score is None or not outcome.baseline_pain_score:
        return ""
    change = (outcome.baseline_pain_score - outcome.pain_score) / outcome.baseline_pain_score
    return f" (pain {outcome.baseline_pain_score:g} -> {outcome.pain_score:g}, {change:.0%} lower)"


def taper_steps(daily_mg: float, start: dt.date, taper: Taper) -> list[dict[str, Any]]:
    """Dated steps from today's daily dose to zero, spread over at least the label's minimum: a cut to two thirds,
    then to one third, then stop on or after the minimum's last day. Round each step to the strengths on hand."""
    days = taper.min_days or 0
    if days <= 0 or daily_mg <= 0:
        return []
    interval = math.ceil(days / 2)
    steps = []
    for index, fraction in enumerate((2 / 3, 1 / 3, 0.0)):
        steps.append({"from": (start + dt.timedelta(days=interval * index)).isoformat(),
                      "dailyDose": {"value": round(daily_mg * fraction, 1), "unit": "mg"},
                      **({"stop": True} if fraction == 0 else {})})
    return steps


# ------------------------------------------------------------------------------------------------- courses
@dataclass(frozen=True)
class Course:
    """One ruled drug as this check sees it: since when it is taken, under which rule, what was documented."""
    exposure: "Exposure"
    rule: StoppingRule
    start: dt.date | None  # None: a continued drug whose start nobody gave
    continued_from: str | None  # the medication line it continues
    previous_daily_mg: float | None  # the daily dose before this order (for a continuation)
    outcomes: tuple[Outcome, ...]  # documented for this course, oldest first

    def days_on(self, as_of: dt.date) -> int | None:
        return (as_of - self.start).days if self.start else None

    def due(self, kind: str) -> dt.date | None:
        if self.start is None:
            return None
        days = self.rule.review_days if kind == "review" else self.rule.decision_days
        return self.start + dt.timedelta(days=days)


def courses(ctx: "CheckContext", book: StoppingBook) -> list[Course]:
    """The ruled drugs being ordered now (new, renewed or with a changed dose), and those still taken from the
    medication list with a start date (contract 2.3: "still taken past its decision point"), one course per
    ingredient. A listed drug without a start date cannot be timed and is left alone; so is one taken longer than
    its decision point plus one re-review period: the rule judges a trial, and a drug kept that long is an
    established treatment (often for another indication, as duloxetine for depression), not a trial to stop."""
    found: dict[str, Course] = {}
    outcomes_by_drug: dict[str, list[Outcome]] = {}
    for outcome in ctx.patient.outcomes:
        result = ctx.resolutions_for_text(outcome.drug)
        for name in result:
            outcomes_by_drug.setdefault(name, []).append(outcome)
    superseded = {line.ref for line in ctx.superseded}
    as_of, pain_type = ctx.request.as_of, ctx.patient.pain_type
    ordered = [e for e in ctx.exposures if e.ordered]
    listed = [e for e in ctx.exposures if not e.ordered]
    for exposure in ordered + listed:  # an order before the list it updates
        if not exposure.systemic or exposure.name in found:
            continue
        if not exposure.ordered and exposure.line.start_date is None:
            continue
        rule = book.rule_for(exposure.classes, pain_type)
        if rule is None:
            continue
        if not exposure.ordered and \
                (as_of - exposure.line.start_date).days > rule.decision_days + rule.re_review_days:
            continue
        previous = [e for e in ctx.all_exposures if e.line.current and e.name == exposure.name
                    and e.line.ref in superseded] if superseded else []  # (no continuation: nothing it continues)
        starts = [e.line.start_date for e in previous if e.line.start_date] + \
            ([exposure.line.start_date] if exposure.line.start_date else [])
        if previous:
            start = min(starts) if starts else None
        else:
            start = min(starts) if starts else ctx.request.as_of
        previous_daily = next((e.daily for e in previous if e.daily is not None and e.daily_unit == "mg"), None)
        mine = sorted((o for o in outcomes_by_drug.get(exposure.name, [])
                       if start is None or o.date >= start), key=lambda o: o.date)
        found[exposure.name] = Course(exposure, rule, start, previous[0].line.ref if previous else None,
                                      previous_daily, tuple(o for o in mine if o.date <= ctx.request.as_of))
    return list(found.values())


def planned_reminders(ctx: "CheckContext") -> list[dict[str, Any]]:
    """The review and stop-or-taper reminders this check schedules (stored idempotently by the service), under the
    check's own stopping rules."""
    if not ctx.patient.id:
        return []
    book = ctx.rulebook.stopping
    planned = []
    for course in ctx.stopping_courses:
        if course.start is None:
            continue
        name, rule = course.exposure.name, course.rule
        review, decision = course.due("review"), course.due("decision")
        planned.append({"drug": name, "kind": "review", "due": review, "startDate": course.start, "rule": rule.key,
                        "message": f"Review {name} (a {rule.label}, started {course.start.isoformat()}): has it "
                                   f"helped? {book.benefit} Record the outcome."})
        planned.append({"drug": name, "kind": "stop_or_taper", "due": decision, "startDate": course.start,
                        "rule": rule.key,
                        "message": f"Decide on {name} (started {course.start.isoformat()}): without documented "
                                   "benefit, taper it off."})
    return planned
