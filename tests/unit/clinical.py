"""Helpers that let engine tests read like clinical statements."""
from __future__ import annotations

import datetime as dt

from stewardship.dosing import parse_frequency
from stewardship.model import CheckRequest, Dose, DrugLine, Patient, PlannedProcedure

AS_OF = dt.date(2026, 11, 27)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_DOSE_UNITS = {"mg": "mg", "tablet": "tablet", "tab": "tablet", "patch": "tablet", "mcg/h": "mcg/h", "mL": "mL"}


def line(drug, dose: float | None = None, unit: str = "mg", freq: str | dict | None = None, *, prn: bool = False,
         max_daily: float | None = None, route: str | None = None, days: int | None = None,
         start: dt.date | None = None) -> dict:
    return {"drug": drug, "dose": Dose(dose, _DOSE_UNITS[unit]) if dose is not None else None,
            "frequency": parse_frequency(freq) if freq is not None else None, "prn": prn,
            "max_daily_dose": Dose(max_daily, _DOSE_UNITS[unit]) if max_daily is not None else None,
            "route": route, "duration_days": days, "start_date": start}


def patient(*, age: float | None = None, sex: str | None = None, weight: float | None = None,
            scr: float | None = None, egfr: float | None = None, crcl: float | None = None,
            conditions: tuple = (), meds: tuple = (), pain: str | None = None, weeks: float | None = None,
            child_pugh: str | None = None, patient_id: str | None = "p-1",
            procedures: tuple = ()) -> Patient:
    return Patient(id=patient_id, age_years=age, sex=sex, weight_kg=weight, serum_creatinine_mg_dl=scr,
                   egfr_ml_min=egfr, crcl_ml_min=crcl,
                   conditions=tuple(conditions),
                   medications=tuple(DrugLine(ref=f"patient.medications[{i}]", current=True, **m)
                                     for i, m in enumerate(meds)),
                   pain_type=pain, gestational_weeks=weeks, child_pugh_class=child_pugh,
                   planned_procedures=tuple(PlannedProcedure(p[0], p[1], p[2] if len(p) > 2 else None)
                                            for p in procedures))


def request(who: Patient, *regimen: dict, as_of: dt.date = AS_OF) -> CheckRequest:
    return CheckRequest(who, tuple(DrugLine(ref=f"regimen[{i}]", **r) for i, r in enumerate(regimen)), as_of)


class Outcome:
    """A check's result with the questions a clinician asks of it."""

    def __init__(self, result) -> None:
        self.result = result
        self.findings = result.findings
        self.derived = result.derived

    def codes(self, severity: str | None = None) -> set[str]:
        return {f.code for f in self.findings if severity is None or f.severity == severity}

    def severity(self, code: str) -> str | None:
        found = [f for f in self.findings if f.code == code]
        return found[0].severity if found else None

    def finding(self, code: str):
        return next(f for f in self.findings if f.code == code)

    def alerts(self) -> set[str]:
        """Codes of warning and critical findings: what would interrupt a prescriber."""
        return {f.code for f in self.findings if f.severity in ("warning", "critical")}

    def categories(self) -> set[str]:
        return {f.category for f in self.findings}
