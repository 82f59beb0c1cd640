"""The check engine: patient + current medications + proposed regimen + asOf in; findings and derived values out.

Pure: no Flask, SQL or HTTP. It resolves every line, turns each ingredient of each line into an `Exposure` (its
route, classes, effect grades and amount per day), computes the derived values (age, CrCl and its basis, MME/day,
acetaminophen mg/day, burdens, per-line contributions), then runs every enabled rule of the rulebook. A rule lives
in one function in `stewardship/rules/`, reads its thresholds from config/ and its drug facts from drugdata/.

Alerts are about what is being ordered: a finding must involve at least one regimen line (a check with an empty
regimen reviews the medication list as a whole), except what is said whatever is ordered (`ALWAYS_SAID`): drugs that
could not be identified, stopping rules that time has made due, and the holds a planned procedure needs. A regimen line with the same ingredients and route as a current
medication is a continuation or dose change: it replaces that medication in the totals instead of adding to it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Mapping

from .dosing import cockcroft_gault, daily_amount
from .knowledge import Citation, Ingredient, KnowledgeBase
from .model import (SEVERITIES, CheckRequest, CheckResult, DrugLine, Evidence, Finding, Patient)
from .rulebook import Rule, Rulebook
from .stopping import planned_reminders
from .terminology import Resolution, Resolver, Strength, Unresolved

SUMMARY_LIMIT = 140  # CDS Hooks card summary: "<140 characters"
BURDENS = {"sedation": "sedation", "constipation": "constipation", "anticholinergic": "anticholinergic",
           "cnsActive": "cns_active"}
# Beers 2023 Table 2 counts aspirin as a non-COX-selective NSAID above 325 mg/day; at or below that (or at an
# unknown dose, as "aspirin 81" on a medication list) it is an antiplatelet, and the NSAID rules leave it alone.
ASPIRIN_NSAID_ABOVE_MG = 325.0
TOPICAL_ROUTES = ("topical",)
# categories said whatever is ordered: what could not be read, what time has made due, what a planned procedure needs
ALWAYS_SAID = ("unresolved", "stopping_rule", "procedure")


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

    @property
    def name(self) -> str:
        return self.ingredient.name

    @property
    def ordered(self) -> bool:
        """Part of the regimen being ordered now (not a current medication)."""
        return not self.line.current

    def grade(self, effect: str) -> int:
        return self.effects.get(effect, 0)

    def has(self, klass: str) -> bool:
        return klass in self.classes


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

    # ---- patient facts
    @property
    def patient(self) -> Patient:
        return self.request.patient

    @property
    def age(self) -> int | None:
        return self.derived.get("ageYears")

    @property
    def conditions(self) -> frozenset[str]:
        """Condition keywords, from keywords and codes given, with what they imply (dialysis implies ckd)."""
        return self.derived["conditions"]

    def has_condition(self, *keywords: str) -> bool:
        return any(k in self.conditions for k in keywords)

    @property
    def crcl(self) -> float | None:
        return self.derived.get("crclMlMin")

    def resolutions_for_text(self, text: str) -> list[str]:
        """Ingredient names a free-text drug (as in an outcome) stands for."""
        result = self.resolver.resolve(text) if self.resolver else None
        return [i.name for i in result.ingredients if i.known] if result is not None and result.resolved else []

    # ---- drugs
    def systemic(self) -> list[Exposure]:
        return [e for e in self.exposures if e.systemic]

    def with_class(self, klass: str) -> list[Exposure]:
        return [e for e in self.exposures if e.systemic and e.has(klass)]

    def distinct(self, exposures: Iterable[Exposure]) -> list[Exposure]:
        """One exposure per ingredient (the first ordered one, else the first)."""
        chosen: dict[str, Exposure] = {}
        for exposure in sorted(exposures, key=lambda e: (not e.ordered, e.line.ref)):
            chosen.setdefault(exposure.name, exposure)
        return list(chosen.values())

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
        names = tuple(dict.fromkeys(drugs if drugs is not None else (e.name for e in involved)))
        refs = tuple(dict.fromkeys([e.line.ref for e in involved] + list(lines)))
        own = rule.sources if sources is None else tuple(sources)
        evidence = tuple(dict.fromkeys(Evidence(c.text, c.url) for c in (*citations, *own)))
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


# ------------------------------------------------------------------------------------------------ the check
class Engine:
    def __init__(self, kb: KnowledgeBase, resolver: Resolver, rulebook: Rulebook) -> None:
        from . import rules  # noqa: F401 - registers every rule function

        missing = sorted(set(rulebook.rules) - set(RULES))
        unconfigured = sorted(set(RULES) - set(rulebook.rules))
        if missing or unconfigured:
            raise ValueError(f"rulebook and engine disagree: no code for {missing}, no config for {unconfigured}")
        self.kb, self.resolver, self.rulebook = kb, resolver, rulebook

    def context(self, request: CheckRequest) -> CheckContext:
        """Everything the rules read: resolved lines, exposures, and the derived values."""
        lines = list(request.patient.medications) + list(request.regimen)
        resolutions = {line.ref: self.resolver.resolve(line.drug) for line in lines}
        derived = self._patient_values(request, self.kb)
        exposures, superseded, everything = self._exposures(request, resolutions)
        context = CheckContext(request, self.kb, self.rulebook, resolutions, exposures, derived, superseded,
                               everything, self.resolver)
        self._drug_values(context)
        return context

    def plan_procedures(self, request: CheckRequest) -> list[dict]:
        """The procedure plan alone (POST /api/v1/procedure-plans): holds and restarts with dates."""
        from .procedures import plan_json, plan_procedures

        return plan_json(plan_procedures(self.context(request)))

    def check(self, request: CheckRequest) -> CheckResult:
        lines = list(request.patient.medications) + list(request.regimen)
        context = self.context(request)
        resolutions, derived = context.resolutions, context.derived

        findings: list[Finding] = []
        for key, spec in self.rulebook.rules.items():
            if spec.enabled:
                findings.extend(RULES[key](context, spec))
        ordered_refs = {line.ref for line in request.regimen}
        if ordered_refs:  # about the order; what could not be read, what time has made due, and the holds a
            # planned procedure needs are always said
            findings = [f for f in findings if f.category in ALWAYS_SAID or not f.lines
                        or ordered_refs.intersection(f.lines)]
        findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.category, f.code, f.drugs))
        derived["conditions"] = sorted(derived["conditions"])
        derived.pop("unknownConditions")
        reminders = planned_reminders(context, self.rulebook.stopping)
        return CheckResult(request.as_of, derived, findings, [self._resolved_json(line, resolutions[line.ref])
                                                              for line in lines], reminders)

    # ---- patient
    @staticmethod
    def _patient_values(request: CheckRequest, kb: KnowledgeBase) -> dict:
        patient = request.patient
        age: int | None = None
        if patient.birth_date is not None:
            born, today = patient.birth_date, request.as_of
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        elif patient.age_years is not None:
            age = int(patient.age_years)
        keywords, unknown = set(), []
        for index, given in enumerate(patient.conditions):
            meant = (given,) if isinstance(given, str) else kb.condition_keywords(given["system"], given["code"])
            keywords.update(meant)
            if not meant:
                unknown.append(index)
        conditions = kb.with_implied(keywords)

        crcl, basis, inputs = None, None, {}
        if patient.crcl_ml_min is not None:
            crcl, basis = patient.crcl_ml_min, "crcl"
        elif None not in (patient.serum_creatinine_mg_dl, patient.weight_kg, age) and \
                patient.sex in ("female", "male") and patient.serum_creatinine_mg_dl > 0:
            crcl = cockcroft_gault(age, patient.weight_kg, patient.serum_creatinine_mg_dl, patient.sex == "female")
            basis = "cockcroft-gault"
            inputs = {"ageYears": age, "weightKg": round(patient.weight_kg, 1), "sex": patient.sex,
                      "serumCreatinineMgDl": round(patient.serum_creatinine_mg_dl, 2), "weight": "actual body weight"}
        elif patient.egfr_ml_min is not None:
            crcl, basis = patient.egfr_ml_min, "egfr"
        if "dialysis" in conditions:
            basis = "dialysis"
        derived = {"ageYears": age, "crclMlMin": round(crcl, 1) if crcl is not None else None, "renalBasis": basis}
        if inputs:
            derived["renalInputs"] = inputs
        derived["conditions"] = conditions
        derived["unknownConditions"] = unknown
        return derived

    # ---- drugs
    def _exposures(self, request: CheckRequest, resolutions: Mapping[str, Resolution | Unresolved]
                   ) -> tuple[list[Exposure], list[DrugLine], list[Exposure]]:
        per_line: dict[str, list[Exposure]] = {}
        for line in list(request.patient.medications) + list(request.regimen):
            resolution = resolutions[line.ref]
            if resolution.resolved:
                per_line[line.ref] = self._line_exposures(line, resolution)

        def signature(ref: str) -> tuple:
            return tuple(sorted((e.name, e.route) for e in per_line.get(ref, [])))

        ordered = {signature(line.ref) for line in request.regimen if per_line.get(line.ref)}
        superseded = [line for line in request.patient.medications
                      if per_line.get(line.ref) and signature(line.ref) in ordered]
        skip = {line.ref for line in superseded}
        everything = [e for found in per_line.values() for e in found]
        return [e for e in everything if e.line.ref not in skip], superseded, everything

    def _line_exposures(self, line: DrugLine, resolution: Resolution) -> list[Exposure]:
        known = [i for i in resolution.ingredients if i.known]
        names = tuple(i.name for i in resolution.ingredients)
        route = line.route or resolution.route
        exposures = []
        for resolved in known:
            ingredient = self.kb.ingredients[resolved.name]
            this_route = route or (ingredient.routes[0] if ingredient.routes else "oral")
            topical = this_route in TOPICAL_ROUTES
            classes = ingredient.topical_classes if topical and ingredient.topical_classes else ingredient.classes
            systemic = any(self.kb.classes[c].systemic for c in classes)
            strength = resolved.strength
            daily, unit_or_reason = daily_amount(line.dose, line.frequency, line.prn, line.max_daily_dose,
                                                 strength.value if strength else None,
                                                 strength.unit if strength else None, len(names) == 1)
            daily_unit = unit_or_reason if daily is not None else None
            reason = None if daily is not None else unit_or_reason
            effects = self._effects(ingredient, classes)
            if ingredient.name == "aspirin" and (daily is None or daily <= ASPIRIN_NSAID_ABOVE_MG):
                classes = tuple(c for c in classes if c not in ("nsaid", "salicylate"))
                effects = self._effects(ingredient, classes)
            exposures.append(Exposure(
                line=line, ingredient=ingredient, classes=frozenset(classes), effects=effects, systemic=systemic,
                route=this_route, extended_release=resolution.extended_release or ingredient.name == "methadone",
                daily=daily, daily_unit=daily_unit, not_computable=reason, line_ingredients=names))
        return exposures

    def _effects(self, ingredient: Ingredient, classes: Iterable[str]) -> dict[str, int]:
        """Effect grades for the classes the drug acts as here: an ingredient's own overrides count only where
        it acts systemically as itself (topical diclofenac keeps none of oral diclofenac's effects)."""
        classes = tuple(classes)
        if not any(self.kb.classes[c].systemic for c in classes):
            return {}
        grades: dict[str, int] = {}
        for key in classes:
            for name, effect in self.kb.classes[key].effects.items():
                grades[name] = max(grades.get(name, 0), effect.grade)
        grades.update({name: effect.grade for name, effect in ingredient.own_effects.items()})
        return {name: grade for name, grade in grades.items() if grade}

    def _drug_values(self, context: CheckContext) -> None:
        """MME/day, acetaminophen mg/day, burdens, and each line's share of them."""
        derived = context.derived
        mme_total, apap_total = 0.0, 0.0
        contributions: dict[str, dict] = {}
        burden = {key: 0 for key in BURDENS}
        for exposure in context.exposures:
            entry = contributions.setdefault(exposure.line.ref, {"line": exposure.line.ref, "ingredients": []})
            share: dict = {"name": exposure.name, "route": exposure.route,
                           "dailyAmount": ({"value": round(exposure.daily, 2), "unit": exposure.daily_unit}
                                           if exposure.daily is not None else None)}
            mme = mme_for(exposure)
            if mme is not None:
                share["mmePerDay"] = round(mme, 1)
                mme_total += mme
            if exposure.name == "acetaminophen" and exposure.daily is not None and exposure.daily_unit == "mg":
                share["acetaminophenMgPerDay"] = round(exposure.daily, 1)
                apap_total += exposure.daily
            points = {key: exposure.grade(effect) for key, effect in BURDENS.items() if exposure.grade(effect)}
            if points:
                share["burden"] = points
            entry["ingredients"].append(share)
        for exposure in context.distinct(context.exposures):  # a drug on two lines loads the patient once
            for key, effect in BURDENS.items():
                burden[key] += exposure.grade(effect)
        apap_max = acetaminophen_ceiling(context)
        derived.update({
            "mmePerDay": round(mme_total, 1),
            "acetaminophenMgPerDay": round(apap_total, 1),
            "acetaminophenMaxMgPerDay": apap_max,
            "acetaminophenRemainingMgPerDay": round(max(0.0, apap_max - apap_total), 1) if apap_max else None,
            "burden": burden,
            "lines": list(contributions.values()),
            "continued": [line.ref for line in context.superseded],
        })

    @staticmethod
    def _resolved_json(line: DrugLine, result: Resolution | Unresolved) -> dict:
        if not result.resolved:
            return {"line": line.ref, "input": line.input_text, "ingredients": [], "reason": result.reason}
        return {"line": line.ref, "input": line.input_text,
                "ingredients": [{"name": i.name, "rxcui": i.rxcui,
                                 "strength": i.strength.as_json() if isinstance(i.strength, Strength) else None}
                                for i in result.ingredients],
                "doseForm": result.dose_form, "route": line.route or result.route}


def mme_for(exposure: Exposure) -> float | None:
    """MME/day of one opioid exposure with the CDC 2022 factor for its route and unit, or None."""
    if exposure.daily is None or not exposure.ingredient.mme_factors:
        return None
    for factor in exposure.ingredient.mme_factors:
        if factor.dose_unit == exposure.daily_unit and (
                factor.route == exposure.route or (factor.route == "oral" and exposure.route in ("oral", None))):
            return exposure.daily * factor.value
    return None


def acetaminophen_ceiling(context: CheckContext) -> float | None:
    """The acetaminophen maximum that applies to this patient (mg/day): the lowest of the general, age and liver
    maxima in drugdata that fit."""
    ingredient = context.kb.ingredients.get("acetaminophen")
    ceilings = []
    for limit in ingredient.max_daily_doses if ingredient else ():
        if limit.amount.unit != "mg":
            continue
        if limit.population == "general" or \
                (limit.population == "older_adult" and context.age is not None and context.age >= (limit.min_age or 65)) or \
                (limit.population == "hepatic" and context.has_condition("hepatic_impairment")):
            ceilings.append(limit.amount.value)
    return min(ceilings) if ceilings else None


def days_between(start: dt.date, end: dt.date) -> int:
    return (end - start).days
