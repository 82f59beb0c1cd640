"""FHIR R4 in, the domain's patient and drug lines out. Resources are read through `fhir.resources` (R4B models,
the R4-compatible release), never by hand: a resource that does not validate is reported, not guessed at.

What each FHIR element becomes:
- Patient.birthDate, Patient.gender -> age and sex.
- Condition.code (SNOMED CT, ICD-10-CM codes; else code.text or a coding's display, matched as a whole phrase) and
  clinicalStatus: resolved, inactive or in remission is history, which counts only where history is the point (a
  past ulcer, GI bleed, fall, substance use disorder); refuted or entered-in-error never.
- Observation (LOINC): the latest creatinine (2160-0, 38483-4), eGFR (33914-3, 62238-1, 98979-8, 48642-3, 48643-1)
  and body weight (29463-7), with their UCUM units through stewardship.units.
- MedicationRequest, MedicationStatement, MedicationDispense, MedicationAdministration: the drug (every coding and
  text as candidates in fallback order, a contained, included or fetched Medication followed), the dose
  (adapters/fhir_dosage.py), start and course length, and whether the record is a current medication by its status
  and dates (config/fhir_medications.yaml). Required elements the check does not need (`intent`, `status`,
  `subject` ...) may be missing: placeholders are used and the answer says so.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient as FhirPatient
from pydantic import ValidationError

from stewardship import units
from stewardship.model import DrugCandidate, DrugLine
from stewardship.terminology import RXNORM_SYSTEM

from . import json_text
from .fhir_dosage import DosageReading, amount, days_of, read_dosages, vocabulary

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CREATININE_CODES = ("2160-0", "38483-4")
EGFR_CODES = ("33914-3", "62238-1", "98979-8", "48642-3", "48643-1")
WEIGHT_CODES = ("29463-7",)
# Condition.verificationStatus codes (FHIR condition-ver-status) that make a record no condition at all. Unconfirmed,
# provisional and differential diagnoses count, as the HL7 CQL authoring patterns for QI-Core 6 read positive evidence
# of a condition ("Verified Conditions": exclude refuted and entered-in-error; cqframework CQL-Formatting-and-Usage-
# Wiki, Authoring Patterns QICore v6.0.0, updated 2025-06-10): a drug-disease check errs towards the warning.
NOT_A_CONDITION = frozenset({"refuted", "entered-in-error"})


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
    unreadable: list[str] = field(default_factory=list)  # what was skipped, and why
    incomplete: list[str] = field(default_factory=list)  # required FHIR elements not given (read all the same)


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


# Resources that validated, by a digest of their content. An EHR sends a patient's medication list, labs and
# demographics with every hook call (order-select as an order is chosen, order-sign as it is signed, again for each
# order), and fhir.resources takes about 0.1 ms to validate one resource against its model: a resource with the same
# content validates the same way, so it is validated once per process. Failures are not kept (they are said each
# time). Patients, conditions and observations are read from the validated model, which is kept for the last 1,024
# (a few megabytes; the models are only read, never changed); medications are kept as their readings (_READINGS).
_VALIDATED: dict[bytes, Any] = {}
_VALIDATED_MAX = 1_024
_VALIDATED_LOCK = threading.Lock()


def _content_digest(model, raw: dict) -> bytes | None:  # noqa: ANN001 - a fhir.resources model class
    """A digest of the resource as this model reads it; None for what is not JSON as parsed (a caller's own
    objects), which is validated every time."""
    try:
        content = json_text.dumps(raw, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(f"{model.__name__}|{content}".encode(), digest_size=16).digest()


def _remember(cache: dict, limit: int, digest: Hashable, value: Any) -> None:
    with _VALIDATED_LOCK:
        if len(cache) >= limit:
            del cache[next(iter(cache))]  # the oldest
        cache[digest] = value


def _validated(model, raw: dict, where: str):  # noqa: ANN001, ANN202 - a fhir.resources model class
    """The resource as a validated model, from the cache when the same content validated before."""
    digest = _content_digest(model, raw)
    found = _VALIDATED.get(digest) if digest is not None else None
    if found is None:
        found = _validate(model, raw, where)
        if digest is not None:
            _remember(_VALIDATED, _VALIDATED_MAX, digest, found)
    return found


def read_patient(raw: dict, facts: PatientFacts) -> None:
    patient = _validated(FhirPatient, raw, "prefetch.patient")
    facts.birth_date = patient.birthDate if isinstance(patient.birthDate, dt.date) else None
    facts.sex = patient.gender if patient.gender in ("female", "male", "other", "unknown") else None


def read_conditions(raws: list[dict], facts: PatientFacts) -> None:
    """Each Condition becomes one record: its codings (SNOMED CT and ICD-10-CM codes are looked up; every coding's
    display can serve the text fallback), its code.text, and its clinicalStatus (resolved, inactive and remission
    make it history). What it means, and whether history counts, is the domain's (stewardship/conditions.py)."""
    for index, raw in enumerate(raws):
        try:
            condition = _validated(Condition, raw, f"conditions[{index}]")
        except FhirInputError as error:
            facts.unreadable.append(str(error))
            continue
        if _code_of(condition.verificationStatus) in NOT_A_CONDITION:
            continue
        concept = condition.code
        codings = [{"system": c.system, "code": c.code, "display": c.display}
                   for c in (concept.coding or [] if concept else []) if c.code or c.display]
        text = concept.text if concept else None
        if codings or text:
            facts.conditions.append({"codings": codings, "text": text,
                                     "status": _code_of(condition.clinicalStatus) or "active"})


def _code_of(concept) -> str | None:  # noqa: ANN001 - a CodeableConcept or None
    if concept is None or not concept.coding:
        return None
    return concept.coding[0].code


def read_observations(raws: list[dict], facts: PatientFacts) -> None:
    latest: dict[str, tuple[str, float]] = {}
    for index, raw in enumerate(raws):
        try:
            observation = _validated(Observation, raw, f"observations[{index}]")
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
            value = units.quantity(float(quantity.value), unit, dimension, f"observations[{index}]")
        except (units.UnitError, TypeError, ValueError) as error:
            facts.unreadable.append(f"observations[{index}] ({kind}): {error}")
            continue
        when = str(observation.effectiveDateTime or observation.issued or "")
        if kind not in latest or when > latest[kind][0]:
            latest[kind] = (when, float(value))
    facts.serum_creatinine_mg_dl = latest["creatinine"][1] if "creatinine" in latest else None
    facts.egfr_ml_min = latest["egfr"][1] if "egfr" in latest else None
    facts.weight_kg = latest["weight"][1] if "weight" in latest else None


# ------------------------------------------------------------------------------------------------ medications
NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
MEDICATION_MODELS = {"MedicationRequest": MedicationRequest, "MedicationStatement": MedicationStatement,
                     "MedicationDispense": MedicationDispense, "MedicationAdministration": MedicationAdministration}
# Elements FHIR requires that the check does not need: a placeholder lets the resource validate and the answer says
# what was missing (issue 11: one missing `intent` must not sink a hook call). `[x]`: any of the choice's types.
PLACEHOLDERS = {
    "MedicationRequest": {"status": {"status": "unknown"}, "intent": {"intent": "order"},
                          "subject": {"subject": {"display": "(not given)"}}},
    "MedicationStatement": {"status": {"status": "unknown"}, "subject": {"subject": {"display": "(not given)"}}},
    "MedicationDispense": {"status": {"status": "unknown"}},
    "MedicationAdministration": {"status": {"status": "unknown"}, "subject": {"subject": {"display": "(not given)"}},
                                 "effective[x]": {"effectivePeriod": {}}},
}
_DOSAGES = {"MedicationRequest": "dosageInstruction", "MedicationStatement": "dosage",
            "MedicationDispense": "dosageInstruction", "MedicationAdministration": "dosage"}
# When the same drug is in several records, the order's record leads (it carries the prescriber's sig).
_PRECEDENCE = tuple(MEDICATION_MODELS)


@dataclass(frozen=True)
class MedicationRecord:
    """One medication resource as the check sees it."""
    reference: str  # "MedicationDispense/d1"
    line: DrugLine
    current: bool  # taken now, by its status and dates (config/fhir_medications.yaml)
    fulfils: tuple[str, ...] = ()  # the MedicationRequests it carries out or rests on ("MedicationRequest/r1")
    missing: tuple[str, ...] = ()  # required elements that were not given (placeholders were used)
    problems: tuple[str, ...] = ()  # what was given but could not be read

    @property
    def kind(self) -> str:
        return self.reference.split("/", 1)[0]


def included_medications(*values: Any) -> dict[str, dict]:
    """Medication resources that came in bundles (`_include`d or listed), by `Medication/<id>` and by fullUrl."""
    found: dict[str, dict] = {}
    for value in values:
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        for entry in value.get("entry") or []:
            resource = (entry or {}).get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Medication":
                if resource.get("id"):
                    found[f"Medication/{resource['id']}"] = resource
                if isinstance(entry.get("fullUrl"), str):
                    found[entry["fullUrl"]] = resource
    return found


def medication_references(raws: Iterable[dict], known: Mapping[str, dict]) -> list[str]:
    """The `Medication/<id>` references (relative, so on the EHR's own FHIR server) that neither a contained nor an
    included Medication answers: the ones to read from the FHIR server."""
    wanted = []
    for raw in raws:
        target = ((raw.get("medicationReference") or {}) if isinstance(raw, dict) else {}).get("reference")
        if isinstance(target, str) and target.startswith("Medication/") and target.count("/") == 1 \
                and target not in known and target not in wanted:
            wanted.append(target)
    return wanted


def read_medication(raw: dict, ref: str, where: str, now: dt.datetime, known: Mapping[str, dict] | None = None,
                    ordered: bool = False) -> MedicationRecord:
    """A MedicationRequest, MedicationStatement, MedicationDispense or MedicationAdministration as a drug line
    (`ordered`: a draft order being checked, else a record of the patient's medications). Raises FhirInputError for
    what cannot be read at all (not valid FHIR, or no medication)."""
    reading = _reading(raw, ref, where, known or {}, ordered)
    if ordered:
        return reading.record
    current, why = _is_current(reading.mode, reading.start, reading.end, reading.course, now)
    record = replace(reading.record, current=current)
    return replace(record, line=replace(record.line, notes=record.line.notes + (why,))) if why else record


@dataclass(frozen=True)
class _Reading:
    """What a medication resource says, before the day decides whether it is a current medication."""
    record: MedicationRecord  # current: True (an order being checked is; a record's is decided per call)
    mode: str  # how its status decides that (config/fhir_medications.yaml)
    start: dt.datetime | None
    end: dt.datetime | None
    course: int | None


# Medication resources that validated, as their readings, by their content: an EHR sends the patient's medication
# list with every hook call, and the same resource validates and reads the same way (validation about 0.1 ms,
# reading 0.05 ms), so it is done once per process. The key holds what else the reading depends on: the line's ref,
# whether it is an order being checked, where the resource sits when it has no id (its name then), and the content of
# a Medication it references outside itself. The last 4,096 (about 1.4 KB each: under 6 MB); failures are not kept,
# and what is not JSON as parsed is read every time.
_READINGS: dict[tuple, _Reading] = {}
_READINGS_MAX = 4_096


def _reading(raw: dict, ref: str, where: str, known: Mapping[str, dict], ordered: bool) -> _Reading:
    kind = raw.get("resourceType")
    filled, missing = dict(raw), []
    for element, placeholder in PLACEHOLDERS[kind].items():
        prefix = element.removesuffix("[x]")
        given = any(k.startswith(prefix) for k in raw) if element.endswith("[x]") else raw.get(element) is not None
        if not given:
            filled.update(placeholder)
            missing.append(element)
    model = MEDICATION_MODELS[kind]
    digest = _content_digest(model, filled)
    target = (raw.get("medicationReference") or {}).get("reference") \
        if isinstance(raw.get("medicationReference"), dict) else None
    referenced = known.get(target) if isinstance(target, str) else None
    referenced_digest = b"" if referenced is None else _content_digest(model, referenced)
    key = None if digest is None or referenced_digest is None else \
        (digest, ref, ordered, None if raw.get("id") else where, referenced_digest)
    if key is not None and (found := _READINGS.get(key)) is not None:
        return found
    _validate(model, filled, where)
    candidates = drug_candidates(raw, known)
    dosages = raw.get(_DOSAGES[kind]) or []
    reading = read_dosages(dosages if isinstance(dosages, list) else [dosages])
    start, end, course, notes, problems = _dates(kind, raw, reading)
    line = DrugLine(ref=ref, drug=candidates[0].drug, drug_source=candidates[0].source,
                    alternatives=tuple(candidates[1:]), dose=reading.dose, frequency=reading.frequency,
                    prn=reading.prn, max_daily_dose=reading.max_daily, route=reading.route,
                    start_date=start.date() if start else None, duration_days=course, current=not ordered,
                    notes=reading.notes + notes)
    fulfils = tuple(r for r in _based_on(kind, raw) if r.startswith("MedicationRequest/"))
    found = _Reading(MedicationRecord(f"{kind}/{raw.get('id') or where}", line, True, fulfils, tuple(missing),
                                      reading.problems + problems),
                     vocabulary()["statuses"][kind].get(filled.get("status"), "current"), start, end, course)
    if key is not None:
        _remember(_READINGS, _READINGS_MAX, key, found)
    return found


def drug_candidates(raw: dict, known: Mapping[str, dict]) -> list[DrugCandidate]:
    """Every way the resource names its drug, in the order they are tried: RxNorm codings, NDC codings, displays,
    text; for a medicationReference the Medication's code (same order), then its ingredients with strengths and
    form, then the reference's display."""
    concept = raw.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        found = concept_candidates(concept, "")
    else:
        reference = raw.get("medicationReference") or {}
        target = reference.get("reference") or ""
        contained = next((c for c in raw.get("contained") or []
                          if isinstance(c, dict) and target.startswith("#") and c.get("id") == target[1:]), None)
        medication = contained or known.get(target)
        found = []
        if isinstance(medication, dict):
            prefix = "contained Medication." if contained else "Medication."
            found = concept_candidates(medication.get("code") or {}, prefix) + _ingredients(medication, prefix)
        if reference.get("display"):
            found.append(DrugCandidate(reference["display"], "medicationReference.display"))
        if not found:
            found = [DrugCandidate(f"{target or 'medicationReference'} (not available)", "medicationReference")]
    unique: dict[str, DrugCandidate] = {}
    for candidate in found:
        unique.setdefault(repr(candidate.drug).lower(), candidate)
    return list(unique.values()) or [DrugCandidate("(no medication)", "none")]


def concept_candidates(concept: dict, prefix: str) -> list[DrugCandidate]:
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    found = [DrugCandidate({"system": RXNORM_SYSTEM, "code": str(c["code"])}, f"{prefix}coding (RxNorm)")
             for c in codings if c.get("system") == RXNORM_SYSTEM and c.get("code")]
    found += [DrugCandidate({"system": NDC_SYSTEM, "code": str(c["code"])}, f"{prefix}coding (NDC)")
              for c in codings if c.get("system") == NDC_SYSTEM and c.get("code")]
    found += [DrugCandidate(c["display"], f"{prefix}coding.display") for c in codings
              if isinstance(c.get("display"), str) and c["display"].strip()]
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        found.append(DrugCandidate(concept["text"], f"{prefix}text"))
    return found


def _ingredients(medication: dict, prefix: str) -> list[DrugCandidate]:
    """A Medication's ingredients as one text ("hydrocodone bitartrate 10 mg / acetaminophen 325 mg Oral Tablet"),
    and for a single ingredient its own codings."""
    parts, concepts = [], []
    for ingredient in medication.get("ingredient") or []:
        concept = (ingredient or {}).get("itemCodeableConcept") or {}
        name = concept.get("text") or next((c.get("display") for c in concept.get("coding") or []
                                            if c.get("display")), None)
        if not name:
            continue
        concepts.append(concept)
        strength = (ingredient.get("strength") or {})
        numerator, denominator = strength.get("numerator") or {}, strength.get("denominator") or {}
        if numerator.get("value") is not None and denominator.get("value") in (None, 1):
            name += f" {numerator['value']:g} {numerator.get('unit') or numerator.get('code') or ''}".rstrip()
        parts.append(name)
    if not parts:
        return []
    form = medication.get("form") or {}
    form_text = form.get("text") or next((c.get("display") for c in form.get("coding") or [] if c.get("display")), "")
    found = [DrugCandidate(f"{' / '.join(parts)} {form_text}".strip(), f"{prefix}ingredient")]
    if len(concepts) == 1:
        found += concept_candidates({"coding": concepts[0].get("coding")}, f"{prefix}ingredient.")
    return found


def _when(value: object) -> dt.datetime | None:
    """A FHIR date or dateTime as an aware datetime (a date is its midnight, UTC); None for partial dates."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _dates(kind: str, raw: dict, reading: DosageReading) -> tuple[dt.datetime | None, dt.datetime | None,
                                                                    int | None, tuple[str, ...], tuple[str, ...]]:
    """(start, end, course length in days, notes, problems) as each resource type records them."""
    notes: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    course = reading.course_days
    if kind == "MedicationRequest":
        dispense = raw.get("dispenseRequest") or {}
        validity = dispense.get("validityPeriod") or {}
        start = _when(raw.get("authoredOn")) or _when(validity.get("start"))
        supply = days_of(dispense.get("expectedSupplyDuration"))
        course = course or (math.ceil(supply) if supply else None) or _supply(dispense.get("quantity"), reading)
        if course is None and validity.get("start") and validity.get("end"):
            course = max(1, (_when(validity["end"]) - _when(validity["start"])).days)
            notes += (f"course length from the prescription's validity period ({course} days)",)
        return start, None, course, notes, problems
    if kind == "MedicationDispense":
        start = _when(raw.get("whenHandedOver")) or _when(raw.get("whenPrepared"))
        supply = days_of(raw.get("daysSupply"))
        course = (math.ceil(supply) if supply else None) or _supply(raw.get("quantity"), reading) or course
        return start, None, course, notes, problems
    period = raw.get("effectivePeriod") or {}
    start = _when(raw.get("effectiveDateTime")) or _when(period.get("start"))
    end = _when(period.get("end")) or _when(raw.get("effectiveDateTime"))
    if course is None and start and _when(period.get("end")):
        course = max(1, (_when(period["end"]) - start).days + 1)
    return start, end, course, notes, problems


def _supply(quantity: dict | None, reading: DosageReading) -> int | None:
    """Days a dispensed quantity lasts at the sig's daily use (counts of units only)."""
    try:
        dispensed = amount(quantity)
    except units.UnitError:
        return None
    daily = reading.daily
    if dispensed is None or daily is None or daily[1] != dispensed.unit or not daily[0]:
        return None
    return max(1, math.floor(dispensed.value / daily[0]))


def _is_current(mode: str, start: dt.datetime | None, end: dt.datetime | None, course: int | None,
                now: dt.datetime) -> tuple[bool, str | None]:
    """Whether a record is a current medication, by the mode its status has (config/fhir_medications.yaml), and a
    note where an assumption decided it."""
    windows = vocabulary()["windows"]
    today = now.date()
    if mode == "current":
        return True, None
    if mode == "course":
        last = start.date() + dt.timedelta(days=course - 1) if start and course else None
        return bool(last and (today - last).days <= windows["ended_within_days"]), None
    if mode == "ended":
        return bool(end and (today - end.date()).days <= windows["ended_within_days"]), None
    if mode == "supply":
        if start is None:
            return False, None
        days, note = course, None
        if days is None:
            days = windows["unknown_supply_days"]
            note = f"days' supply not given: counted as current for {days} days after hand-over"
        last = start.date() + dt.timedelta(days=days - 1 + windows["dispense_grace_days"])
        return today <= last, note if today <= last else None
    if mode == "administered":
        return bool(end and now - end <= dt.timedelta(hours=windows["administered_within_hours"])), None
    return False, None


def _based_on(kind: str, raw: dict) -> list[str]:
    links = {"MedicationDispense": raw.get("authorizingPrescription"), "MedicationStatement": raw.get("basedOn"),
             "MedicationAdministration": [raw.get("request")]}.get(kind) or []
    return [link["reference"] for link in links if isinstance(link, dict) and isinstance(link.get("reference"), str)]


def read_medications(values: Iterable[tuple[str, Any]], facts: PatientFacts, now: dt.datetime,
                     known: Mapping[str, dict], skip: set[str]) -> list[MedicationRecord]:
    """The current medication records among prefetch/search values ((key, value) pairs), each resource once;
    `skip` holds the references of the draft orders (an order being signed is not also its own medication)."""
    records, seen = [], set(skip)
    for key, value in values:
        for kind in MEDICATION_MODELS:
            for index, raw in enumerate(resources(value, kind)):
                reference = f"{kind}/{raw.get('id')}"
                if raw.get("id") and reference in seen:
                    continue
                seen.add(reference)
                where = f"prefetch.{key}[{kind} {index}]"
                try:
                    record = read_medication(raw, "", where, now, known)
                except FhirInputError as error:
                    facts.unreadable.append(str(error))
                    continue
                if not record.current:
                    continue
                facts.unreadable.extend(f"{record.reference}: {problem}" for problem in record.problems)
                if record.missing:
                    facts.incomplete.append(f"{record.reference}: {', '.join(record.missing)}")
                records.append(record)
    return records


def one_per_medication(records: list[MedicationRecord],
                       identify: Callable[[DrugLine], Hashable | None]) -> list[MedicationRecord]:
    """One record per medication: a dispense, administration or statement of a drug that a request (or another
    record) already lists is the same medication, found by its link to the request or by the same ingredients,
    route and release. Records of one type stay separate unless they say the same dose: two orders of one drug are
    two medications. The merged line keeps the richest dose information and the earliest start."""
    kept: list[MedicationRecord] = []
    by_reference: dict[str, int] = {}
    by_key: dict[Hashable, list[int]] = {}
    for record in sorted(records, key=lambda r: _PRECEDENCE.index(r.kind)):
        key = identify(record.line)
        target = next((by_reference[ref] for ref in record.fulfils if ref in by_reference), None)
        if target is None and key is not None:
            target = next((i for i in by_key.get(key, []) if kept[i].kind != record.kind or
                           _same_sig(kept[i].line, record.line)), None)
        if target is None:
            target = len(kept)
            kept.append(record)
            by_key.setdefault(key, []).append(target)
        else:
            kept[target] = _merged(kept[target], record)
        by_reference[record.reference] = target
    return kept


def _same_sig(a: DrugLine, b: DrugLine) -> bool:
    return (a.dose, a.frequency and a.frequency.times_per_day, a.prn) == \
        (b.dose, b.frequency and b.frequency.times_per_day, b.prn)


def _richness(line: DrugLine) -> float:
    return (line.dose is not None) + (line.frequency is not None) + (line.max_daily_dose is not None) + \
        0.5 * (line.duration_days is not None)


def _merged(first: MedicationRecord, other: MedicationRecord) -> MedicationRecord:
    line = first.line if _richness(first.line) >= _richness(other.line) else \
        replace(other.line, drug=first.line.drug, drug_source=first.line.drug_source,
                alternatives=first.line.alternatives + other.line.alternatives)
    starts = [d for d in (first.line.start_date, other.line.start_date) if d]
    return replace(first, line=replace(line, start_date=min(starts) if starts else None))
