"""What a rule sees and how rules are registered: the rules' input types (one exposure per ingredient of a line, the
check's context) and the registry that `config/rules.yaml` keys name. The engine builds a CheckContext and runs the
registered functions; the rules import this module, never the engine, so neither imports the other."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Mapping

from .knowledge import Citation, Ingredient, KnowledgeBase
from .model import CheckRequest, DrugLine, Finding, Patient
from .rulebook import Rule, Rulebook, evidence_of
from .stopping import Course, courses
from .terminology import Resolution, Resolver, Unresolved

SUMMARY_LIMIT = 140  # CDS Hooks card summary: "<140 characters"
TOPICAL_ROUTES = ("topical",)


@dataclass(frozen=True)
class Exposure:
    """One ingredient of one line, as the rules see it."""
    line: DrugLine
    ingredient: Ingredient
    classes: frozenset[str]
    effects: Mapping[str, int]
    systemic: bool
    route: str
    extended_release: bool
    daily: float | None  # per day, in daily_unit
    daily_unit: str | None  # "mg", or "mcg/h" for a patch
    not_computable: str | None  # why `daily` is None
    line_ingredients: tuple[str, ...]
    salt: str | None = None  # the salt the line's amount was stated in; `daily` is converted to the ingredient
    # Set once from the fields above: the rules read an exposure's name hundreds of times a check.
    name: str = field(init=False, repr=False, compare=False)  # the ingredient's
    precedence: tuple[bool, str] = field(init=False, repr=False, compare=False)  # sort key of CheckContext.distinct

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.ingredient.name)  # frozen: set as dataclasses' own __init__ does
        object.__setattr__(self, "precedence", (not self.ordered, self.line.ref))  # ordered lines first

    @property
    def ordered(self) -> bool:
        """Part of the regimen being ordered now (not a current medication)."""
        return not self.line.current

    def grade(self, effect: str) -> int:
        return self.effects.get(effect, 0)

    def has(self, klass: str) -> bool:
        return klass in self.classes


_PRECEDENCE = attrgetter("precedence")


@dataclass
class CheckContext:
    request: CheckRequest
    kb: KnowledgeBase
    rulebook: Rulebook
    resolutions: dict[str, Resolution | Unresolved]
    exposures: list[Exposure]
    derived: dict
    superseded: list[DrugLine] = field(default_factory=list)  # current medications continued by a regimen line
    all_exposures: list[Exposure] = field(default_factory=list)  # superseded lines included
    resolver: Resolver | None = None
    resolved_from: dict[str, str] = field(default_factory=dict)  # line ref -> the candidate that identified it

    def __post_init__(self) -> None:
        # `exposures` is complete when the engine builds the context and never changes after, so the systemic ones,
        # their index by class and each systemic drug once are worked out once a check instead of once for each of
        # the rules that ask.
        self._systemic = [e for e in self.exposures if e.systemic]
        self._systemic_by_class: dict[str, list[Exposure]] = {}
        for exposure in self._systemic:
            for klass in exposure.classes:
                self._systemic_by_class.setdefault(klass, []).append(exposure)
        self._distinct_systemic = self.distinct(self._systemic)
        self._distinct_exposures = self.distinct(self.exposures)
        self._distinct_by_class: dict[str, list[Exposure]] = {}

    # ---- patient facts
    @property
    def patient(self) -> Patient:
        return self.request.patient

    @property
    def age(self) -> int | None:
        return self.derived.get("ageYears")

    def aged(self, years: float) -> bool:
        """Whether the patient is known to be `years` old or more (an unknown age is never an older adult)."""
        age = self.age
        return age is not None and age >= years

    @property
    def conditions(self) -> frozenset[str]:
        """Condition keywords that count: current ones, and history where history is the point (an ulcer, a fall, a
        substance use disorder in remission), from keywords, codes or text, with what they imply (dialysis: ckd)."""
        return self.derived["conditions"]

    def has_condition(self, *keywords: str) -> bool:
        conditions = self.derived["conditions"]
        for keyword in keywords:  # (a loop, not any() over a generator: asked some 40 times a check)
            if keyword in conditions:
                return True
        return False

    @property
    def crcl(self) -> float | None:
        return self.derived.get("crclMlMin")

    def resolutions_for_text(self, text: str) -> list[str]:
        """Ingredient names a free-text drug (as in an outcome) stands for."""
        result = self.resolver.resolve(text) if self.resolver else None
        return [i.name for i in result.ingredients if i.known] if result is not None and result.resolved else []

    # ---- drugs
    def systemic(self) -> list[Exposure]:
        return list(self._systemic)  # a copy: the caller may change its list, never the context's

    def with_class(self, klass: str) -> list[Exposure]:
        return list(self._systemic_by_class.get(klass, ()))

    def distinct(self, exposures: Iterable[Exposure]) -> list[Exposure]:
        """One exposure per ingredient (the first ordered one, else the first)."""
        chosen: dict[str, Exposure] = {}
        for exposure in sorted(exposures, key=_PRECEDENCE):
            chosen.setdefault(exposure.name, exposure)
        return list(chosen.values())

    def distinct_exposures(self) -> list[Exposure]:
        """`distinct(exposures)`: each drug once, systemic or not."""
        return list(self._distinct_exposures)

    def distinct_systemic(self) -> list[Exposure]:
        """`distinct(systemic())`: each systemic drug once, as most rules go through them."""
        return list(self._distinct_systemic)

    def distinct_with_class(self, klass: str) -> list[Exposure]:
        """`distinct(with_class(klass))`: each systemic drug of the class once, worked out once a check per class
        (the rules ask for opioids, NSAIDs, anticoagulants ... again and again)."""
        found = self._distinct_by_class.get(klass)
        if found is None:
            found = self._distinct_by_class[klass] = self.distinct(self._systemic_by_class.get(klass, ()))
        return list(found)  # a copy: the caller may change its list, never the context's

    def total_daily(self, name: str, unit: str = "mg") -> tuple[float, bool]:
        """The ingredient's total per day over all active lines, and whether every line could be counted."""
        total, complete = 0.0, True
        for exposure in self.exposures:
            if exposure.name != name:
                continue
            if exposure.daily is None or exposure.daily_unit != unit:
                complete = False
            else:
                total += exposure.daily
        return total, complete

    @cached_property
    def stopping_courses(self) -> tuple[Course, ...]:
        """The ruled drugs' courses under the rulebook's stopping rules, worked out once a check: the stopping rule
        and the reminders both go through them."""
        return tuple(courses(self, self.rulebook.stopping))

    # ---- building findings
    def cite(self, text: str) -> Citation:
        return self.rulebook.cite(text)

    def finding(self, rule: Rule, *, summary: str, detail: str, exposures: Iterable[Exposure] = (),
                severity: str | None = None, code: str | None = None, drugs: Iterable[str] | None = None,
                citations: Iterable[Citation] = (), suggestions: Iterable[dict] = (),
                lines: Iterable[str] = (), sources: Iterable[Citation] | None = None) -> Finding:
        """A finding of `rule`, citing `citations` (the facts it used) and then the rule's sources, or `sources`
        instead of them where the case rests on documents of its own (a table entry, a case of the rule)."""
        involved = list(exposures)
        names = tuple(dict.fromkeys(drugs if drugs is not None else [e.name for e in involved]))
        refs = tuple(dict.fromkeys([e.line.ref for e in involved] + list(lines)))
        cited = tuple(citations)
        if not cited and sources is None:
            evidence = rule.evidence  # the rule's own sources, made evidence once
        else:
            evidence = evidence_of((*cited, *(rule.sources if sources is None else sources)))
        if len(summary) >= SUMMARY_LIMIT:
            summary = summary[:SUMMARY_LIMIT - 2].rstrip() + "…"
        return Finding(code or rule.key, rule.category, severity or rule.severity_for(), names, summary, detail,
                       evidence, tuple(suggestions), refs)


RuleFunction = Callable[[CheckContext, Rule], Iterable[Finding]]
RULES: dict[str, RuleFunction] = {}


def rule(key: str) -> Callable[[RuleFunction], RuleFunction]:
    """Register the function that carries out rule `key` of config/rules.yaml."""
    def register(function: RuleFunction) -> RuleFunction:
        RULES[key] = function
        return function
    return register


def mme_for(exposure: Exposure) -> float | None:
    """MME/day of one opioid exposure with the CDC 2022 factor for its route and unit, or None."""
    if exposure.daily is None or not exposure.ingredient.mme_factors:
        return None
    for factor in exposure.ingredient.mme_factors:
        if factor.dose_unit == exposure.daily_unit and (
                factor.route == exposure.route or (factor.route == "oral" and exposure.route in ("oral", None))):
            return exposure.daily * factor.value
    return None
