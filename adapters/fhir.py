"""FHIR R4 in, the domain's patient and drug lines out. Resources are read through `fhir.resources` (R4B models,
the R4-compatible release), never by hand: a resource that does not validate is reported, not guessed at.

What each FHIR element becomes:
- Patient.birthDate, Patient.gender -> age and sex.
- Condition.code (SNOMED CT, ICD-10-CM): active ones; resolved or inactive ones only where history is the point
  (a past ulcer, GI bleed or fall still counts); refuted or entered-in-error never.
- Observation (LOINC): the latest creatinine (2160-0, 38483-4), eGFR (33914-3, 62238-1, 98979-8, 48642-3, 48643-1)
  and body weight (29463-7), with their UCUM units through stewardship.units.
- MedicationRequest: medication (RxNorm coding, or text; a contained Medication is followed), dosageInstruction
  (doseAndRate.doseQuantity, timing.repeat or timing.code, asNeeded, maxDosePerPeriod, route), authoredOn (start),
  dispenseRequest.expectedSupplyDuration (days).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from pydantic import ValidationError

from stewardship import units
from stewardship.dosing import FrequencyError, parse_frequency
from stewardship.knowledge import KnowledgeBase
from stewardship.model import Dose, DrugLine, Frequency
from stewardship.terminology import RXNORM_SYSTEM

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CREATININE_CODES = ("2160-0", "38483-4")
EGFR_CODES = ("33914-3", "62238-1", "98979-8", "48642-3", "48643-1")
WEIGHT_CODES = ("29463-7",)
# Conditions whose history matters even when resolved: Beers' "history of ulcers", "history of falls".
HISTORY_MATTERS = frozenset({"peptic_ulcer", "gi_bleed", "falls"})
# SNOMED CT route codes (the FHIR R4 "SNOMED CT Route Codes" value set) for the routes the rules distinguish.
ROUTES = {"26643006": "oral", "6064005": "topical", "45890007": "transdermal", "47625008": "iv", "78421000": "im",
          "34206005": "sc", "37161004": "rectal", "54471007": "buccal", "37839007": "sublingual", "46713006": "nasal"}
_PERIOD_IN_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
_COUNT_UNITS = {"", "tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tab}", "cap", "capsule", "{capsule}",
                "{cap}", "patch", "{patch}", "1", "{each}", "each", "{spray}", "spray", "actuat", "{actuat}",
                "application", "{application}", "appl", "{appl}"}


class FhirInputError(ValueError):
    """A resource the service cannot read: `field` says where (e.g. context.draftOrders.entry[0])."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass
class PatientFacts:
    """What the FHIR data says about the patient, in the shape of the check's `patient`."""
    birth_date: dt.date | None = None
    sex: str | None = None
    weight_kg: float | None = None
    serum_creatinine_mg_dl: float | None = None
    egfr_ml_min: float | None = None
    conditions: list[dict] = field(default_factory=list)
    medications: list[tuple[str, DrugLine]] = field(default_factory=list)  # (MedicationRequest id, line)
    unreadable: list[str] = field(default_factory=list)  # what was skipped, and why


def resources(value: Any, resource_type: str) -> list[dict]:
    """The resources of one type in a prefetch value or search result: a Bundle's entries, or one resource."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        return [entry["resource"] for entry in value.get("entry") or []
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                and entry["resource"].get("resourceType") == resource_type]
    return [value] if value.get("resourceType") == resource_type else []


def _validate(model, raw: dict, where: str):  # noqa: ANN001, ANN202 - a fhir.resources model class
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first.get("loc", ()))
        raise FhirInputError(where + (f".{location}" if location else ""), first.get("msg", "invalid")) from None


def read_patient(raw: dict, facts: PatientFacts) -> None:
    patient = _validate(FhirPatient, raw, "prefetch.patient")
    facts.birth_date = patient.birthDate if isinstance(patient.birthDate, dt.date) else None
    facts.sex = patient.gender if patient.gender in ("female", "male", "other", "unknown") else None


def read_conditions(raws: list[dict], facts: PatientFacts, kb: KnowledgeBase) -> None:
    for index, raw in enumerate(raws):
        try:
            condition = _validate(Condition, raw, f"conditions[{index}]")
        except FhirInputError as error:
            facts.unreadable.append(str(error))
            continue
        verification = _code_of(condition.verificationStatus)
        if verification in ("refuted", "entered-in-error"):
            continue
        status = _code_of(condition.clinicalStatus)
        for coding in (condition.code.coding or []) if condition.code else []:
            if coding.system not in (SNOMED, ICD10CM) or not coding.code:
                continue
            if status in ("resolved", "inactive", "remission"):
                meant = set(kb.condition_keywords(coding.system, coding.code))
                if not meant & HISTORY_MATTERS:
                    continue
            facts.conditions.append({"system": coding.system, "code": coding.code})


def _code_of(concept) -> str | None:  # noqa: ANN001 - a CodeableConcept or None
    if concept is None or not concept.coding:
        return None
    return concept.coding[0].code


def read_observations(raws: list[dict], facts: PatientFacts) -> None:
    latest: dict[str, tuple[str, float]] = {}
    for index, raw in enumerate(raws):
        try:
            observation = _validate(Observation, raw, f"observations[{index}]")
        except FhirInputError as error:
            facts.unreadable.append(str(error))
            continue
        if observation.status not in ("final", "amended", "corrected") or observation.valueQuantity is None:
            continue
        codes = {c.code for c in observation.code.coding or [] if c.system == LOINC}
        kind = "creatinine" if codes & set(CREATININE_CODES) else "egfr" if codes & set(EGFR_CODES) else \
            "weight" if codes & set(WEIGHT_CODES) else None
        if kind is None:
            continue
        quantity = observation.valueQuantity
        unit = quantity.code or quantity.unit or ""
        dimension = {"creatinine": units.CREATININE, "egfr": units.CLEARANCE, "weight": units.BODY_WEIGHT}[kind]
        try:
            value = units.quantity(float(quantity.value), unit, dimension, f"observations[{index}]").magnitude
        except (units.UnitError, TypeError, ValueError) as error:
            facts.unreadable.append(f"observations[{index}] ({kind}): {error}")
            continue
        when = str(observation.effectiveDateTime or observation.issued or "")
        if kind not in latest or when > latest[kind][0]:
            latest[kind] = (when, float(value))
    facts.serum_creatinine_mg_dl = latest["creatinine"][1] if "creatinine" in latest else None
    facts.egfr_ml_min = latest["egfr"][1] if "egfr" in latest else None
    facts.weight_kg = latest["weight"][1] if "weight" in latest else None


# ----------------------------------------------------------------------------------------------- MedicationRequest
def medication_line(raw: dict, ref: str, current: bool, where: str) -> tuple[str, DrugLine]:
    """(MedicationRequest id, the drug line it orders). Raises FhirInputError for what cannot be read at all."""
    request = _validate(MedicationRequest, raw, where)
    drug = _drug(request, raw)
    dosage = request.dosageInstruction[0] if request.dosageInstruction else None
    dose = _dose(dosage)
    frequency = _frequency(dosage)
    prn = bool(dosage and (dosage.asNeededBoolean or dosage.asNeededCodeableConcept))
    started = request.authoredOn.date() if isinstance(request.authoredOn, dt.datetime) else \
        request.authoredOn if isinstance(request.authoredOn, dt.date) else None
    supply = request.dispenseRequest.expectedSupplyDuration if request.dispenseRequest else None
    duration = None
    if supply is not None and supply.value:
        duration = max(1, math.ceil(float(supply.value) * _PERIOD_IN_DAYS.get(supply.code or supply.unit or "d",
                                                                                1.0)))
    route = None
    if dosage and dosage.route and dosage.route.coding:
        route = next((ROUTES[c.code] for c in dosage.route.coding if c.code in ROUTES), None)
    line = DrugLine(ref=ref, drug=drug, dose=dose, frequency=frequency, prn=prn,
                    max_daily_dose=_max_per_day(dosage), route=route, start_date=started, duration_days=duration,
                    current=current)
    return request.id or "", line


def _drug(request: MedicationRequest, raw: dict) -> Any:
    concept = request.medicationCodeableConcept
    if concept is None and request.medicationReference is not None:
        reference = request.medicationReference.reference or ""
        contained = next((c for c in raw.get("contained") or [] if f"#{c.get('id')}" == reference), None)
        code = (contained or {}).get("code") or {}
        rxnorm = next((c for c in code.get("coding") or [] if c.get("system") == RXNORM_SYSTEM and c.get("code")),
                      None)
        if rxnorm:
            return {"system": RXNORM_SYSTEM, "code": rxnorm["code"]}
        return code.get("text") or request.medicationReference.display or reference or "(no medication)"
    if concept is None:
        return "(no medication)"
    rxnorm = next((c for c in concept.coding or [] if c.system == RXNORM_SYSTEM and c.code), None)
    if rxnorm:
        return {"system": RXNORM_SYSTEM, "code": rxnorm.code}
    return concept.text or next((c.display for c in concept.coding or [] if c.display), "(no medication)")


def _amount(quantity) -> Dose | None:  # noqa: ANN001 - a FHIR Quantity
    if quantity is None or quantity.value is None:
        return None
    unit = (quantity.code or quantity.unit or "").strip()
    if unit.lower() in _COUNT_UNITS:
        return Dose(float(quantity.value), "tablet")
    dimension = units.dimension_of(unit)
    if dimension is None:
        return None
    value = units.quantity(float(quantity.value), unit, dimension, "dose").magnitude
    return Dose(float(value), dimension.canonical)


def _dose(dosage) -> Dose | None:  # noqa: ANN001
    if dosage is None or not dosage.doseAndRate:
        return None
    return _amount(dosage.doseAndRate[0].doseQuantity)


def _frequency(dosage) -> Frequency | None:  # noqa: ANN001
    if dosage is None or dosage.timing is None:
        return None
    timing = dosage.timing
    repeat = timing.repeat
    if repeat is not None and repeat.period and (repeat.frequency or repeat.frequencyMax):
        times = float(repeat.frequencyMax or repeat.frequency)
        shortest = min(float(repeat.period), float(repeat.periodMax or repeat.period))
        days = shortest * _PERIOD_IN_DAYS.get(repeat.periodUnit or "d", 1.0)
        if days > 0:
            return Frequency(f"{times:g} per {shortest:g} {repeat.periodUnit or 'd'}", times / days)
    if timing.code is not None:
        for coding in timing.code.coding or []:
            try:
                return parse_frequency(coding.code or "")
            except FrequencyError:
                continue
    return None


def _max_per_day(dosage) -> Dose | None:  # noqa: ANN001
    if dosage is None or not dosage.maxDosePerPeriod:
        return None
    ratio = dosage.maxDosePerPeriod[0] if isinstance(dosage.maxDosePerPeriod, list) else dosage.maxDosePerPeriod
    amount = _amount(ratio.numerator)
    denominator = ratio.denominator
    if amount is None or denominator is None or not denominator.value:
        return None
    days = float(denominator.value) * _PERIOD_IN_DAYS.get(denominator.code or denominator.unit or "d", 1.0)
    return Dose(amount.value / days, amount.unit) if days else None
