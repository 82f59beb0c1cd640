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

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType
from typing import Mapping

from . import rules  # noqa: F401 - registers every rule function (rules import .context, never this module)
from .conditions import counted, understand
from .context import RULES, TOPICAL_ROUTES, CheckContext, Exposure, mme_for
from .dosing import cockcroft_gault, daily_amount
from .knowledge import Ingredient, KnowledgeBase
from .model import SEVERITIES, CheckRequest, CheckResult, DrugCandidate, DrugLine, Finding, markdown_text
from .procedures import plan_json, plan_procedures
from .rulebook import Rulebook
from .stopping import planned_reminders
from .terminology import Resolution, Resolver, Strength, Unresolved

BURDENS = {"sedation": "sedation", "constipation": "constipation", "anticholinergic": "anticholinergic",
           "cnsActive": "cns_active"}
# categories said whatever is ordered: what could not be read, what time has made due, what a planned procedure needs
ALWAYS_SAID = ("unresolved", "stopping_rule", "procedure")
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # the order findings are listed in


# ------------------------------------------------------------------------------------------------ the check
class Engine:
    def __init__(self, kb: KnowledgeBase, resolver: Resolver, rulebook: Rulebook) -> None:
        missing = sorted(set(rulebook.rules) - set(RULES))
        unconfigured = sorted(set(RULES) - set(rulebook.rules))
        if missing or unconfigured:
            raise ValueError(f"rulebook and engine disagree: no code for {missing}, no config for {unconfigured}")
        self.kb, self.resolver, self.rulebook = kb, resolver, rulebook
        # Effect grades depend only on the ingredient and the classes it acts as, and the knowledge base does not
        # change under an engine: each pair is graded once, not on every line of every check.
        self._grades: dict[tuple[str, tuple[str, ...]], Mapping[str, int]] = {}
        self._acting_memo: dict[tuple[str, bool], tuple[tuple[str, ...], bool, Mapping[str, int], frozenset[str]]] = {}

    def context(self, request: CheckRequest) -> CheckContext:
        """Everything the rules read: resolved lines, exposures, and the derived values."""
        lines = list(request.patient.medications) + list(request.regimen)
        identified = {line.ref: resolve_line(self.resolver, line) for line in lines}
        resolutions = {ref: result for ref, (result, _) in identified.items()}
        derived = self._patient_values(request, self.kb)
        exposures, superseded, everything = self._exposures(request, resolutions)
        context = CheckContext(request, self.kb, self.rulebook, resolutions, exposures, derived, superseded,
                               everything, self.resolver,
                               {ref: source for ref, (_, source) in identified.items() if source})
        self._drug_values(context)
        return context

    def plan_procedures(self, request: CheckRequest) -> list[dict]:
        """The procedure plan alone (POST /api/v1/procedure-plans): holds and restarts with dates."""

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
                        or not ordered_refs.isdisjoint(f.lines)]
        noted = [line for line in lines if line.notes]  # usually none: then no finding needs looking at
        if noted:
            findings = [_with_reading_notes(f, noted) for f in findings]
        findings.sort(key=lambda f: (_SEVERITY_RANK[f.severity], f.category, f.code, f.drugs))
        derived["conditions"] = sorted(derived["conditions"])
        derived.pop("unknownConditions")
        reminders = planned_reminders(context)
        return CheckResult(request.as_of, derived, findings,
                           [self._resolved_json(line, resolutions[line.ref], context.resolved_from.get(line.ref))
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
        understood, unknown = [], []
        for index, given in enumerate(patient.conditions):
            found = understand(index, given, kb)
            if found is None:
                unknown.append(index)
            else:
                understood.append(found)
        conditions = counted(understood, kb)

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
        derived["conditionsUnderstood"] = [u.as_json() for u in understood]
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
        everything = [e for found in per_line.values() for e in found]
        if not request.patient.medications:  # nothing an order could continue
            return list(everything), [], everything  # (two lists, as below: the context holds both)

        def signature(ref: str) -> tuple:
            return tuple(sorted((e.name, e.route) for e in per_line.get(ref, [])))

        ordered = {signature(line.ref) for line in request.regimen if per_line.get(line.ref)}
        superseded = [line for line in request.patient.medications
                      if per_line.get(line.ref) and signature(line.ref) in ordered]
        skip = {line.ref for line in superseded}
        return [e for e in everything if e.line.ref not in skip], superseded, everything

    def _line_exposures(self, line: DrugLine, resolution: Resolution) -> list[Exposure]:
        known = [i for i in resolution.ingredients if i.known]
        names = tuple(i.name for i in resolution.ingredients)
        # A dose written as a delivery rate (mcg/h) is a transdermal system, whatever else the line leaves out
        # ("Duragesic 12 mcg/h" with no route or strength): every product dosed so is a patch.
        route = line.route or resolution.route or ("transdermal" if line.dose and line.dose.unit == "mcg/h" else None)
        exposures = []
        for resolved in known:
            ingredient = self.kb.ingredients[resolved.name]
            this_route = route or (ingredient.routes[0] if ingredient.routes else "oral")
            classes, systemic, effects, class_set = self._acting(ingredient, this_route in TOPICAL_ROUTES)
            strength = resolved.strength
            daily, unit_or_reason = daily_amount(line.dose, line.frequency, line.prn, line.max_daily_dose,
                                                 strength.value if strength else None,
                                                 strength.unit if strength else None, len(names) == 1)
            daily_unit = unit_or_reason if daily is not None else None
            reason = None if daily is not None else unit_or_reason
            salt = _stated_salt(ingredient, strength, line) if daily_unit == "mg" else None
            if salt is not None:  # maxima are written for the ingredient: 550 mg naproxen sodium is 500 mg naproxen
                daily *= ingredient.salt_equivalents[salt].base_per_salt
            for dependent in ingredient.dose_dependent_classes:  # drugdata: aspirin is an NSAID above 325 mg/day
                if daily is None or daily_unit != "mg" or daily <= dependent.above_mg_per_day:
                    classes = tuple(c for c in classes if c not in dependent.classes)
                    effects, class_set = self._effects(ingredient, classes), frozenset(classes)
            # Extended-release / long-acting as CDC 2022 (Recommendation 3) and the FDA ER/LA opioid analgesic REMS
            # use the words: an extended-release product, methadone, or a transdermal opioid system, whatever the text
            # names ("fentanyl patch" with no strength matches no product; no immediate-release transdermal opioid
            # exists, and drugdata/dose_forms.yaml reads every "transdermal system" as extended release).
            long_acting = ingredient.name == "methadone" or (this_route == "transdermal" and "opioid" in classes)
            exposures.append(Exposure(
                line=line, ingredient=ingredient, classes=class_set, effects=effects, systemic=systemic,
                route=this_route, extended_release=resolution.extended_release or long_acting,
                daily=daily, daily_unit=daily_unit, not_computable=reason, line_ingredients=names, salt=salt))
        return exposures

    def _acting(self, ingredient: Ingredient, topical: bool
                ) -> tuple[tuple[str, ...], bool, Mapping[str, int], frozenset[str]]:
        """What the ingredient acts as by this kind of route: its classes (on the skin its topical ones, where it has
        any), whether any acts systemically, its effect grades and the classes as a set. Worked out once per
        ingredient and kind of route, not on every line of every check (the knowledge base does not change)."""
        key = (ingredient.name, topical)
        acting = self._acting_memo.get(key)
        if acting is None:
            classes = ingredient.topical_classes if topical and ingredient.topical_classes else ingredient.classes
            systemic = any(self.kb.classes[c].systemic for c in classes)
            acting = self._acting_memo[key] = (classes, systemic, self._effects(ingredient, classes),
                                               frozenset(classes))
        return acting

    def _effects(self, ingredient: Ingredient, classes: Iterable[str]) -> Mapping[str, int]:
        """Effect grades for the classes the drug acts as here (read-only: shared by every check that asks)."""
        classes = tuple(classes)
        key = (ingredient.name, classes)
        grades = self._grades.get(key)
        if grades is None:
            grades = self._grades[key] = MappingProxyType(self._graded(ingredient, classes))
        return grades

    def _graded(self, ingredient: Ingredient, classes: tuple[str, ...]) -> dict[str, int]:
        """An ingredient's own overrides count only where it acts systemically as itself (topical diclofenac keeps
        none of oral diclofenac's effects)."""
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
            ref = exposure.line.ref
            entry = contributions.get(ref)
            if entry is None:
                entry = contributions[ref] = {"line": ref, "ingredients": []}
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
            grades = exposure.effects  # (read directly, not through Exposure.grade: 8 look-ups a line)
            if grades:
                points = {key: grades[effect] for key, effect in BURDENS.items() if grades.get(effect)}
                if points:
                    share["burden"] = points
            entry["ingredients"].append(share)
        for exposure in context.distinct_exposures():  # a drug on two lines loads the patient once
            grades = exposure.effects
            if grades:
                for key, effect in BURDENS.items():
                    burden[key] += grades.get(effect, 0)
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
    def _resolved_json(line: DrugLine, result: Resolution | Unresolved, source: str | None) -> dict:
        read = ({"from": source} if source else {}) | ({"notes": list(line.notes)} if line.notes else {})
        if not result.resolved:
            return {"line": line.ref, "input": line.input_text, "ingredients": [], "reason": result.reason, **read}
        if source != line.drug_source:  # identified by a fallback candidate: which one
            read["fromInput"] = result.input
        if result.tried:  # codes or words of the same input tried before (a coding's code, then its display)
            read["tried"] = [{"input": given, "reason": reason} for given, reason in result.tried]
        return {"line": line.ref, "input": line.input_text,
                "ingredients": [{"name": i.name, "rxcui": i.rxcui,
                                 "strength": i.strength.as_json() if isinstance(i.strength, Strength) else None,
                                 "assessed": i.known}  # False: identified, but no stewardship facts to check
                                for i in result.ingredients],
                "doseForm": result.dose_form, "route": line.route or result.route,
                "matchedBy": result.identified_by, **read}


def _stated_salt(ingredient: Ingredient, strength: Strength | None, line: DrugLine) -> str | None:
    """The salt a line's amount is stated in, where the knowledge base has its equivalent: the product's strength
    basis (RxNorm states "naproxen sodium 550 MG"), else a salt named in the drug text ("naproxen sodium", 550 mg)."""
    if not ingredient.salt_equivalents:
        return None
    if strength is not None and strength.basis:
        basis = strength.basis.lower()
        return basis if basis in ingredient.salt_equivalents else None
    typed = line.input_text.lower()
    return next((salt for salt in ingredient.salt_equivalents if salt in typed), None)


def resolve_line(resolver: Resolver, line: DrugLine) -> tuple[Resolution | Unresolved, str | None]:
    """The line's drug, else the first of its alternatives that resolves (Resolver.resolve_first), with where that
    candidate was read (None for a drug given as is). When none resolves, the reason gives each candidate's."""
    if not line.alternatives:
        return resolver.resolve(line.drug), line.drug_source
    candidates = (DrugCandidate(line.drug, line.drug_source or ""), *line.alternatives)
    result = resolver.resolve_first([c.drug for c in candidates])
    if not result.resolved:
        return result, line.drug_source
    return result, candidates[len(result.tried)].source  # `tried`: the candidates before the one that resolved


def _with_reading_notes(finding: Finding, lines: list[DrugLine]) -> Finding:
    """A finding about a line whose dose was read with an assumption (a range at its high end, the larger of two
    instructions) says so: the numbers in it rest on that reading."""
    notes = [f"{line.ref}: {note}" for line in lines if line.ref in finding.lines for note in line.notes]
    if not notes:
        return finding
    return replace(finding, detail=finding.detail + "\n\n**As read from the order:**\n"
                   + "\n".join(f"- {markdown_text(note)}" for note in notes))


def acetaminophen_ceiling(context: CheckContext) -> float | None:
    """The acetaminophen maximum that applies to this patient (mg/day): the lowest of the general, age and liver
    maxima in drugdata that fit."""
    ingredient = context.kb.ingredients.get("acetaminophen")
    ceilings = []
    for limit in ingredient.max_daily_doses if ingredient else ():
        if limit.amount.unit != "mg" or limit.severity == "info":  # an info maximum is said, not enforced
            continue
        if limit.population == "general" or \
                (limit.population == "older_adult" and context.age is not None and context.age >= limit.min_age) or \
                (limit.population == "hepatic" and context.has_condition("hepatic_impairment")):
            ceilings.append(limit.amount.value)
    return min(ceilings) if ceilings else None

