"""The prescriber's form as the same JSON body that `POST /api/v1/checks` takes.

Inputs are named by their JSON path (`patient.weight`, `regimen[0].dose`), so a 400's field path from
`web.schemas.field_errors` lands next to the input that caused it. What the user typed goes through as typed
(numbers as numbers where they parse), so the schema, not this module, decides what is wrong and says why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from stewardship.model import CONDITIONS, PAIN_TYPES, PROCEDURES, ROUTES

from .schemas import MAX_LINES

DOSE_UNITS = ("mg", "g", "mcg", "tablet", "capsule", "patch", "mcg/h", "mL")
WEIGHT_UNITS = ("kg", "lb")
CREATININE_UNITS = ("mg/dL", "umol/L")
EGFR_UNIT = "mL/min/1.73m2"
FREQUENCIES = ("once", "daily", "BID", "TID", "QID", "qHS", "q4h", "q6h", "q8h", "q12h", "q24h", "q4-6h", "q72h",
               "weekly")
LEVELS = ("cervical", "thoracic", "lumbar", "sacral")
LINE_FIELDS = ("drug", "dose.value", "dose.unit", "frequency", "prn", "route", "durationDays", "startDate")
_TYPED = ("drug", "dose.value", "frequency", "durationDays", "startDate")  # a row with none of these is empty
_LINE_KEY = re.compile(r"^(regimen|patient\.medications)\[(\d{1,4})\]\.([\w.]+)$")

# how a keyword reads to someone who has never seen the service (the keywords themselves are the contract's)
_WORDS = {"ckd": "chronic kidney disease (CKD)", "gi_bleed": "GI bleed (history)", "copd": "COPD",
          "long_qt": "long QT", "peptic_ulcer": "peptic ulcer (history)",
          "hypertension_uncontrolled": "hypertension, uncontrolled", "scs_trial": "spinal cord stimulator trial",
          "scs_implant": "spinal cord stimulator implant", "drg_stimulation": "dorsal root ganglion stimulation",
          "interlaminar_esi": "interlaminar epidural steroid injection",
          "transforaminal_esi": "transforaminal epidural steroid injection", "facet_mbb": "facet medial branch block",
          "facet_rfa": "facet radiofrequency ablation", "si_joint_injection": "SI joint injection"}


def label(keyword: str) -> str:
    return _WORDS.get(keyword, keyword.replace("_", " "))


CONDITION_CHOICES = tuple((keyword, label(keyword)) for keyword in CONDITIONS)
PROCEDURE_CHOICES = tuple((keyword, label(keyword)) for keyword in PROCEDURES)


@dataclass
class CheckForm:
    """What the user typed, ready to show again: patient fields by name, lines as dicts of LINE_FIELDS."""
    fields: dict[str, str] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    regimen: list[dict[str, str]] = field(default_factory=list)
    medications: list[dict[str, str]] = field(default_factory=list)

    def rows(self, section: str, minimum: int) -> list[dict[str, str]]:
        """The typed lines plus blank rows to type into (always at least one)."""
        lines = self.regimen if section == "regimen" else self.medications
        blank = {name: "" for name in LINE_FIELDS}
        return lines + [dict(blank) for _ in range(max(minimum - len(lines), 1))]


_PATIENT_FIELDS = ("patient.id", "patient.age", "patient.birthDate", "patient.sex", "patient.weight.value",
                   "patient.weight.unit", "patient.serumCreatinine.value", "patient.serumCreatinine.unit",
                   "patient.egfr.value", "patient.painType", "procedure.procedure", "procedure.date",
                   "procedure.level")


def read_form(form: MultiDict) -> CheckForm:
    """The posted form, with empty line rows dropped so that line i of the body is row i on the page."""
    rows: dict[str, dict[int, dict[str, str]]] = {"regimen": {}, "patient.medications": {}}
    for key, value in form.items(multi=True):
        match = _LINE_KEY.match(key)
        if match and match[3] in LINE_FIELDS:
            rows[match[1]].setdefault(int(match[2]), {})[match[3]] = value.strip()

    def lines(section: str) -> list[dict[str, str]]:
        ordered = [rows[section][i] for i in sorted(rows[section])][:MAX_LINES + 1]  # one over: the schema says so
        return [{name: row.get(name, "") for name in LINE_FIELDS} for row in ordered
                if any(row.get(name) for name in _TYPED)]

    return CheckForm(fields={name: form.get(name, "").strip() for name in _PATIENT_FIELDS},
                     conditions=[c for c in form.getlist("patient.conditions") if c],
                     regimen=lines("regimen"), medications=lines("patient.medications"))


def _number(text: str) -> float | int | str:
    """A number where the text is one (integers stay integers), else the text for the schema to refuse."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _line_json(row: dict[str, str]) -> dict:
    line: dict[str, object] = {"drug": row["drug"]}
    if row["dose.value"]:
        line["dose"] = {"value": _number(row["dose.value"]), "unit": row["dose.unit"] or "mg"}
    for name in ("frequency", "route", "startDate"):
        if row[name]:
            line[name] = row[name]
    if row["prn"]:
        line["prn"] = True
    if row["durationDays"]:
        line["durationDays"] = _number(row["durationDays"])
    return line


def check_body(typed: CheckForm) -> dict:
    """The JSON body of `POST /api/v1/checks` for what the form holds; blank inputs are left out."""
    f = typed.fields
    patient: dict[str, object] = {}
    for name in ("id", "birthDate", "sex", "painType"):
        if f[f"patient.{name}"]:
            patient[name] = f[f"patient.{name}"]
    if f["patient.age"]:
        patient["age"] = _number(f["patient.age"])
    for name, unit in (("weight", f["patient.weight.unit"] or "kg"),
                       ("serumCreatinine", f["patient.serumCreatinine.unit"] or "mg/dL"), ("egfr", EGFR_UNIT)):
        if f[f"patient.{name}.value"]:
            patient[name] = {"value": _number(f[f"patient.{name}.value"]), "unit": unit}
    if typed.conditions:
        patient["conditions"] = typed.conditions
    if typed.medications:
        patient["medications"] = [_line_json(row) for row in typed.medications]
    if f["procedure.procedure"] or f["procedure.date"]:
        procedure = {"procedure": f["procedure.procedure"], "date": f["procedure.date"]}
        if f["procedure.level"]:
            procedure["level"] = f["procedure.level"]
        patient["plannedProcedures"] = [procedure]
    return {"patient": patient, "regimen": [_line_json(row) for row in typed.regimen]}


def form_errors(fields: dict[str, str]) -> dict[str, str]:
    """The schema's field paths as the form's: the one planned procedure is `procedure.*` on the page."""
    return {re.sub(r"^patient\.plannedProcedures\[0\]", "procedure", path): reason for path, reason in fields.items()}
