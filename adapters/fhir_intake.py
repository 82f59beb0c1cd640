"""One FHIR intake for every way a patient's FHIR data reaches a check: a CDS Hooks call (web/cds_hooks.py, from
prefetch or the EHR's FHIR server) and a population sweep (adapters/population_sweep.py, from a Bulk Data export).
Both hand over parsed resources; this turns them into the check's request the same way, so that a patient swept
tonight is reviewed exactly as the same patient would be at order-sign.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from stewardship.engine import resolve_line
from stewardship.model import CheckRequest, DrugLine, Patient
from stewardship.terminology import Resolver

from .fhir import (
    FhirInputError,
    PatientFacts,
    one_per_medication,
    read_conditions,
    read_medications,
    read_observations,
    read_patient,
)


@dataclasses.dataclass(frozen=True)
class FhirRecord:
    """What is known about one patient, as parsed FHIR JSON."""
    patient_id: str
    patient: dict | None = None  # the Patient resource
    conditions: Sequence[dict] = ()
    observations: Sequence[dict] = ()
    # (where they came from, a resource or a Bundle of them): MedicationRequest, MedicationStatement,
    # MedicationDispense and MedicationAdministration
    medications: Sequence[tuple[str, Any]] = ()


def check_request(record: FhirRecord, known: Mapping[str, dict], now: dt.datetime, as_of: dt.date,
                  resolver: Resolver, facts: PatientFacts, regimen: Sequence[DrugLine] = (),
                  skip: Collection[str] = ()) -> CheckRequest:
    """The check of `regimen` (draft orders; none: the current medication list reviewed as a whole) for the patient
    in `record`. Current medications are decided at `now` (config/fhir_medications.yaml), one line per medication;
    `known` holds the Medication resources that records reference (`Medication/<id>`), `skip` the references of the
    draft orders. What could not be read is added to `facts.unreadable`, what FHIR requires but was missing to
    `facts.incomplete`: neither stops the check."""
    if record.patient:
        try:
            read_patient(record.patient, facts)
        except FhirInputError as error:
            facts.unreadable.append(str(error))
    read_conditions(list(record.conditions), facts)
    read_observations(list(record.observations), facts)
    records = read_medications(record.medications, facts, now, known, set(skip))

    def identify(line: DrugLine) -> tuple:
        result, _ = resolve_line(resolver, line)
        if not result.resolved:
            return ("unidentified", line.input_text)
        return (tuple(sorted(i.name for i in result.ingredients)), line.route or result.route,
                result.extended_release)

    medications = [dataclasses.replace(kept.line, ref=f"patient.medications[{index}]")
                   for index, kept in enumerate(one_per_medication(records, identify))]
    return CheckRequest(
        patient=Patient(id=record.patient_id, birth_date=facts.birth_date, sex=facts.sex, weight_kg=facts.weight_kg,
                        serum_creatinine_mg_dl=facts.serum_creatinine_mg_dl, egfr_ml_min=facts.egfr_ml_min,
                        conditions=tuple(facts.conditions), medications=tuple(medications)),
        regimen=tuple(regimen), as_of=as_of)

