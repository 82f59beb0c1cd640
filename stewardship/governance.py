"""What a P&T committee signs: every rule and fact of the knowledge base with its source, whether it is verified
against its primary text, who checked it and when, and when it is next due for review.

A fact is *unverified* when drugdata says so (`unverified: <why>`, e.g. read only as quoted by a secondary summary);
the loader holds such a fact to info at most. Every other fact is listed as verified by the review that covers it
(the `reviewed:` block of its file or entry: drugdata/README.md, Governance). A review whose `next_review` date has
passed is overdue: `stewardship kb check` warns about it and the knowledge page lists it first.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from .knowledge import Citation, KnowledgeBase, Review, ReviewedSchema, _load_with
from .rulebook import Rulebook

KINDS = ("rule", "drug_disease", "class_effect", "effect", "max_daily_dose", "renal", "hepatic", "mme_factor", "beers",
         "effective_dose", "taper", "salt_equivalent", "course_limit", "procedure_tier", "procedure_hold",
         "interaction")
STATUSES = ("verified", "unverified")
# config files whose own `reviewed:` block covers their rules (the rulebook keeps the rules, not the review)
REVIEWED_CONFIG = ("rules.yaml", "stopping_rules.yaml")
INTERACTIONS_FILE = "interactions.yaml"  # drugdata/: its Interaction values keep no review, the file does


@dataclass(frozen=True)
class Item:
    """One rule or fact, as the knowledge page and GET /api/v1/knowledge list it."""
    kind: str
    subject: str  # the rule key, ingredient, class or procedure keyword
    statement: str
    sources: tuple[Citation, ...]
    review: Review | None  # None: no review recorded for it (said, never guessed)
    file: str
    unverified: str | None = None
    note: str | None = None

    @property
    def status(self) -> str:
        return "unverified" if self.unverified else "verified"

    def overdue(self, today: dt.date) -> bool:
        return self.review is not None and self.review.next_review < today

    def as_json(self, today: dt.date) -> dict:
        review = self.review
        return {"kind": self.kind, "subject": self.subject, "statement": self.statement, "note": self.note,
                "status": self.status, "unverifiedReason": self.unverified, "file": self.file,
                "sources": [{"id": s.source_id, "citation": s.text, "url": s.url} for s in self.sources],
                "checkedBy": review.checked_by if review else None,
                "checkedOn": review.checked_on.isoformat() if review else None,
                "nextReview": review.next_review.isoformat() if review else None,
                "overdue": self.overdue(today)}


@dataclass(frozen=True)
class FileReview:
    """A `reviewed:` block: the file (or entry) it covers and its dates."""
    what: str
    review: Review

    def overdue(self, today: dt.date) -> bool:
        return self.review.next_review < today


def _amount(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


def _ingredient_items(kb: KnowledgeBase) -> list[Item]:
    items: list[Item] = []
    for ingredient in sorted(kb.ingredients.values(), key=lambda i: i.name):
        name, review, file = ingredient.name, ingredient.reviewed, ingredient.file

        def add(kind: str, statement: str, source: Citation, note: str | None = None,
                unverified: str | None = None) -> None:
            items.append(Item(kind, name, statement, (source,), review, file, unverified, note))  # noqa: B023

        for effect, grade in sorted(ingredient.own_effects.items()):
            add("effect", f"{effect} grade {grade.grade}", grade.source)
        for limit in ingredient.max_daily_doses:
            who = limit.population + (f" from age {limit.min_age}" if limit.min_age else "") + \
                (f" below {limit.weight_below_kg:g} kg" if limit.weight_below_kg else "")
            release = "" if limit.release == "any" else f", {limit.release} release"
            later = f", from day {limit.from_day}" if limit.from_day else ""
            basis = f" of {limit.basis}" if limit.basis else ""
            said = ", said only (info)" if limit.severity == "info" else ""
            add("max_daily_dose", f"max {_amount(limit.amount.value, limit.amount.unit)}{basis}/day ({who}, "
                                  f"{limit.route}{release}{later}{said})", limit.source, limit.note, limit.unverified)
        for salt, equivalent in sorted(ingredient.salt_equivalents.items()):
            add("salt_equivalent", f"{equivalent.salt_mg:g} mg {salt} = {equivalent.base_mg:g} mg {name}",
                equivalent.source)
        if ingredient.course_limit:
            add("course_limit", f"course of at most {ingredient.course_limit.max_days} days (all routes)",
                ingredient.course_limit.source, ingredient.course_limit.note)
        for band in ingredient.renal:
            release = "" if band.release == "any" else f" ({band.release} release)"
            ceiling = f", max {_amount(band.max_daily_dose.value, band.max_daily_dose.unit)}/day" \
                if band.max_daily_dose else ""
            add("renal", f"{band.label}{release}: {band.action}{ceiling}", band.source, band.note, band.unverified)
        for fact in ingredient.hepatic:
            who = "any Child-Pugh class" if fact.severity_class == "any" else f"Child-Pugh {fact.severity_class}"
            release = "" if fact.release == "any" else f" ({fact.release} release)"
            add("hepatic", f"{who}{release}: {fact.action}", fact.source, fact.note, fact.unverified)
        for factor in ingredient.mme_factors:
            add("mme_factor", f"MME factor {factor.value:g} per {factor.dose_unit} ({factor.route})", factor.source,
                factor.note)
        for statement in ingredient.beers:
            about = f" ({statement.condition})" if statement.condition else ""
            add("beers", f"Beers Table {statement.table}: {statement.recommendation.replace('_', ' ')}{about}",
                statement.source, statement.note, statement.unverified)
        if ingredient.effective_dose:
            dose = ingredient.effective_dose
            add("effective_dose", f"usual lowest effective dose {_amount(dose.amount.value, dose.amount.unit)}/day",
                dose.source, dose.note)
        if ingredient.taper:
            days = f" over at least {ingredient.taper.min_days} days" if ingredient.taper.min_days else ""
            add("taper", f"taper{days}", ingredient.taper.source, ingredient.taper.note)
    return items


def _procedure_items(kb: KnowledgeBase) -> list[Item]:
    guidance = kb.procedure_guidance
    items = [Item("procedure_tier", keyword, f"{tier.label}: {tier.tier} bleeding risk", (tier.source,),
                  guidance.reviewed, "procedures.yaml")
             for keyword, tier in sorted(guidance.procedures.items())]
    for name, spec in sorted(guidance.drugs.items()):
        for hold in spec.holds:
            interval = f"{hold.hold_days} d" if hold.hold_days is not None else f"{hold.hold_hours} h"
            what = "decision, no fixed hold" if hold.conditional else f"hold {interval}"
            # a label floor is verified (read in the label text) but is only the label's minimum: the page says so
            note = (f"{hold.note}. The FDA label's own minimum, read in the label text; the ASRA pain-procedure "
                    "interval was not read and may be longer" if hold.label_floor else hold.note)
            items.append(Item("procedure_hold", name, f"{'/'.join(hold.tiers)} risk: {what}"
                                                      f"{' (label minimum)' if hold.label_floor else ''}",
                              (hold.source,), guidance.reviewed, "procedures.yaml", hold.unverified, note))
        for band in spec.renal:
            items.append(Item("procedure_hold", name, f"{'/'.join(band.tiers)} risk, CrCl < {band.crcl_below:g} mL/min:"
                                                      f" hold {band.hold_days} d", (band.source,), guidance.reviewed,
                              "procedures.yaml", band.unverified, band.note))
    return items


def _class_items(kb: KnowledgeBase) -> list[Item]:
    # classes.yaml carries no `reviewed:` block: its grades are listed with no review rather than a guessed one
    return [Item("class_effect", key, f"{effect} grade {grade.grade}", (grade.source,), None, "classes.yaml")
            for key, klass in sorted(kb.classes.items()) for effect, grade in sorted(klass.effects.items())]


def _reviewed_block(path: Path) -> Review | None:
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}
    return Review(**_load_with(ReviewedSchema(), raw["reviewed"], path)) if "reviewed" in raw else None


def config_reviews(config_dir: Path | str) -> dict[str, Review]:
    """The `reviewed:` blocks of config/ (rules.yaml, stopping_rules.yaml), schema-checked like drugdata's."""
    found = {name: _reviewed_block(Path(config_dir) / name) for name in REVIEWED_CONFIG}
    return {name: review for name, review in found.items() if review}


def _interactions_review(kb: KnowledgeBase) -> Review | None:
    return _reviewed_block(kb.rxnorm_dir.parent / INTERACTIONS_FILE) if kb.rxnorm_dir else None


def _interaction_items(kb: KnowledgeBase) -> list[Item]:
    """One item per object drug of each interaction row: the label statement it rests on, verified or not."""
    review = _interactions_review(kb)
    return [Item("interaction", f"{row.key}: {fact.ingredient}", row.summary, (fact.source,), review,
                 INTERACTIONS_FILE, fact.unverified, f"severity {row.severity}{'' if row.enabled else ' (switched off)'}")
            for row in kb.interactions for fact in row.objects]


def _rule_items(rulebook: Rulebook, reviews: dict[str, Review]) -> list[Item]:
    items = []
    for key, rule in sorted(rulebook.rules.items()):
        severity = rule.severity if isinstance(rule.severity, str) or rule.severity is None else \
            ", ".join(f"{case}: {level}" for case, level in rule.severity.items())
        switch = "" if rule.enabled else " (switched off)"
        items.append(Item("rule", key, f"{rule.when} Then: {rule.then}", tuple(rule.sources),
                          reviews.get("rules.yaml"), "rules.yaml", note=f"severity {severity or 'info'}{switch}"))
    for entry in rulebook.drug_disease:
        # drug_disease.yaml carries no `reviewed:` block of its own
        items.append(Item("drug_disease", entry.key, entry.summary, tuple(entry.sources), None, "drug_disease.yaml",
                          note=f"severity {entry.severity}{'' if entry.enabled else ' (switched off)'}"))
    return items


def catalogue(kb: KnowledgeBase, rulebook: Rulebook, config_dir: Path | str) -> list[Item]:
    """Every rule and fact, rules first, then drug facts by ingredient, procedure guidance and class grades."""
    return (_rule_items(rulebook, config_reviews(config_dir)) + _ingredient_items(kb) + _procedure_items(kb)
            + _interaction_items(kb) + _class_items(kb))


def file_reviews(kb: KnowledgeBase, config_dir: Path | str) -> list[FileReview]:
    """Every review block in force: per ingredient file (and entry overrides), procedures.yaml and config/."""
    seen: dict[tuple[str, Review], None] = {}
    for ingredient in kb.ingredients.values():
        seen[(ingredient.file, ingredient.reviewed)] = None
    if kb.procedure_guidance.reviewed:
        seen[("procedures.yaml", kb.procedure_guidance.reviewed)] = None
    interactions = _interactions_review(kb)
    if interactions:
        seen[(INTERACTIONS_FILE, interactions)] = None
    for name, review in config_reviews(config_dir).items():
        seen[(name, review)] = None
    return sorted((FileReview(what, review) for what, review in seen),
                  key=lambda r: (r.review.next_review, r.what))


def overdue_reviews(kb: KnowledgeBase, config_dir: Path | str, today: dt.date) -> list[FileReview]:
    """Reviews whose next_review date is before today (the day itself is still in time)."""
    return [r for r in file_reviews(kb, config_dir) if r.overdue(today)]


def future_reviews(kb: KnowledgeBase, config_dir: Path | str, today: dt.date) -> list[FileReview]:
    """Reviews checked on a day after today: a mistyped date, which would shift every next review after it."""
    return [r for r in file_reviews(kb, config_dir) if r.review.checked_on > today]
