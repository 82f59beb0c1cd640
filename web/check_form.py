"""The prescriber's form as the same JSON body that `POST /api/v1/checks` takes.

Inputs are named by their JSON path (`patient.weight`, `regimen[0].dose`), so a 400's field path from
`web.schemas.field_errors` lands next to the input that caused it. What the user typed goes through as typed
(numbers as numbers where they parse), so the schema, not this module, decides what is wrong and says why.

The drug field takes what a prescriber has at hand, as text, and the terminology reads it the way the API's
`drug` string is read (`Resolver.resolve_text`): a name, brand or strength ("Norco 5/325"), an RxNorm name as an
EHR displays it ("Warfarin Sodium 10 MG Oral Tablet"), an RxCUI ("rxcui:855332", or the bare number), or an NDC
from a package (11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1; "ndc:" in front is allowed). The result
page's "resolved" entries say how each line was identified.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from stewardship.model import CONDITIONS, PROCEDURES

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
    times = _TIMES_A_DAY.match(row["frequency"])
    if times:  # how a stored {"timesPerDay": n} is shown in the form, read back as it was sent
        line["frequency"] = {"timesPerDay": _number(times[1])}
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


# ------------------------------------------------------------------------------------- edit and re-check
_TIMES_A_DAY = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:times|x)\s*(?:a|per|/)\s*day$", re.IGNORECASE)
_CODE_PREFIXES = {"http://www.nlm.nih.gov/research/umls/rxnorm": "rxcui", "http://hl7.org/fhir/sid/ndc": "ndc"}


def editable(request_json: object) -> bool:
    """A check made from the native body (the form or the API) can be opened in the form again; one made through
    CDS Hooks carries the EHR's FHIR resources, which the form does not hold."""
    return isinstance(request_json, dict) and isinstance(request_json.get("patient"), dict) \
        and isinstance(request_json.get("regimen"), list)


def _text(value: object) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def _drug_typed(drug: object) -> str:
    """A drug as the form's text field takes it: text as is, an RxNorm or NDC coding as "rxcui:…" / "ndc:…"."""
    if isinstance(drug, dict):
        coding = drug if "code" in drug else next(iter(drug.get("coding") or ()), {})
        prefix = _CODE_PREFIXES.get(coding.get("system")) if isinstance(coding, dict) else None
        if prefix and coding.get("code"):
            return f"{prefix}:{coding['code']}"
        return str((coding or {}).get("display") or drug.get("text") or "")
    return _text(drug)


def _frequency_typed(frequency: object) -> str:
    if isinstance(frequency, dict) and frequency.get("timesPerDay") is not None:
        times = frequency["timesPerDay"]
        return f"{_text(float(times)) if isinstance(times, (int, float)) else times} times a day"
    return _text(frequency)


def _row(line: dict, section: str, index: int, left_out: list[str]) -> dict[str, str]:
    dose = line.get("dose") if isinstance(line.get("dose"), dict) else {}
    for name, words in (("maxDailyDose", "its maximum daily dose"), ("note", "its note")):
        if line.get(name) is not None:
            left_out.append(f"{'ordered line' if section == 'regimen' else 'current medication'} {index + 1}: {words}")
    return {"drug": _drug_typed(line.get("drug")), "dose.value": _text(dose.get("value")),
            "dose.unit": _text(dose.get("unit")), "frequency": _frequency_typed(line.get("frequency")),
            "prn": "1" if line.get("prn") else "", "route": _text(line.get("route")),
            "durationDays": _text(line.get("durationDays")), "startDate": _text(line.get("startDate"))}


def form_from_request(request_json: dict) -> tuple[CheckForm, list[str]]:
    """The form as it was filled in for a stored check (every line), and what the form cannot hold and so is
    left out of the new check (said on the page, never dropped silently)."""
    patient = request_json.get("patient") or {}
    left_out: list[str] = []
    fields = {name: "" for name in _PATIENT_FIELDS}
    for name in ("id", "age", "birthDate", "sex", "painType"):
        fields[f"patient.{name}"] = _text(patient.get(name))
    for name in ("weight", "serumCreatinine", "egfr"):
        amount = patient.get(name) if isinstance(patient.get(name), dict) else {}
        fields[f"patient.{name}.value"] = _text(amount.get("value"))
        if name != "egfr":
            fields[f"patient.{name}.unit"] = _text(amount.get("unit"))
    conditions = [c for c in patient.get("conditions") or () if isinstance(c, str)]
    if len(conditions) < len(patient.get("conditions") or ()):
        left_out.append("conditions given as codes (tick them again under Conditions)")
    plans = [p for p in patient.get("plannedProcedures") or () if isinstance(p, dict)]
    if plans:
        fields.update({"procedure.procedure": _text(plans[0].get("procedure")),
                       "procedure.date": _text(plans[0].get("date")), "procedure.level": _text(plans[0].get("level"))})
    if len(plans) > 1:
        left_out.append(f"{len(plans) - 1} more planned procedure{'s' if len(plans) > 2 else ''}")
    for name, words in (("crcl", "creatinine clearance"), ("outcomes", "recorded outcomes"),
                        ("gestationalWeeks", "weeks of pregnancy"), ("childPughClass", "Child-Pugh class")):
        if patient.get(name) not in (None, []):
            left_out.append(words)
    if request_json.get("asOf"):
        left_out.append(f"the date counted from ({request_json['asOf']}): the new check counts from today")
    regimen = [_row(line, "regimen", i, left_out) for i, line in enumerate(request_json.get("regimen") or ())
               if isinstance(line, dict)]
    medications = [_row(line, "patient.medications", i, left_out)
                   for i, line in enumerate(patient.get("medications") or ()) if isinstance(line, dict)]
    return CheckForm(fields=fields, conditions=conditions, regimen=regimen, medications=medications), left_out


def _order_line(drug: str, orderables: dict) -> dict:
    """A new line for a drug a suggestion adds: the order the CDS Hooks side would create (config/cds_hooks.yaml
    `orderables`: product, dose, interval), or just the drug where the service has no such order."""
    order = orderables.get(drug)
    if not order:
        return {"drug": drug}
    line: dict = {"drug": order.get("display") or drug}
    dose = order.get("dose") or {}
    unit = str(dose.get("unit") or "").strip("{}")
    if dose.get("value") is not None and unit in DOSE_UNITS + ("capsule",):
        line["dose"] = {"value": dose["value"], "unit": unit}
    hours = order.get("every_hours")
    if hours:
        line["frequency"] = "daily" if hours == 24 else f"q{hours:g}h"
    if order.get("prn"):
        line["prn"] = True
    if "dose" in line and "frequency" not in line and not line.get("prn"):
        del line["dose"]  # a dose needs a frequency: leave it for the prescriber rather than guess one
    return line


def apply_suggestion(request_json: dict, suggestion: dict, orderables: dict) -> tuple[dict, str] | None:
    """The stored request with one suggestion applied to its lines, and the change in words ("Stop ibuprofen");
    None when the suggestion is no change to a line (monitoring, a review, a dose the prescriber has to choose).

    - stop: the line is removed; substitute: the line is replaced by the substitute's order;
    - add_drug, offer_naloxone: a line is added for the drug (unless one is already ordered)."""
    action, ref = suggestion.get("action"), suggestion.get("line") or ""
    match = _LINE_KEY.match(f"{ref}.drug")
    body = {key: value for key, value in request_json.items() if key != "previousCheckId"}
    body["patient"] = dict(body.get("patient") or {})
    body["regimen"] = list(body.get("regimen") or [])
    body["patient"]["medications"] = list(body["patient"].get("medications") or [])
    section = (body["regimen"] if match and match[1] == "regimen" else body["patient"]["medications"]) if match \
        else None
    index = int(match[2]) if match else -1
    target = section[index] if section is not None and index < len(section) else None
    if action == "stop" and target is not None:
        del section[index]
        return _tidy(body), f"Stop {_drug_typed(target.get('drug'))}"
    if action == "substitute" and target is not None and suggestion.get("substitute"):
        replacement = _order_line(suggestion["substitute"], orderables)
        section[index] = replacement
        return _tidy(body), f"Replace {_drug_typed(target.get('drug'))} with {replacement['drug']}"
    if action in ("add_drug", "offer_naloxone") and suggestion.get("drug"):
        added = _order_line(suggestion["drug"], orderables)
        if any(_drug_typed(line.get("drug")) == added["drug"] for line in body["regimen"] if isinstance(line, dict)):
            return None
        body["regimen"].append(added)
        return _tidy(body), f"Add {added['drug']}"
    return None


def _tidy(body: dict) -> dict:
    if not body["patient"]["medications"]:
        del body["patient"]["medications"]
    return body


_FIELD_WORDS = {"patient.id": "Patient id", "patient.age": "Age", "patient.birthDate": "Birth date",
                "patient.sex": "Sex", "patient.weight": "Weight", "patient.serumCreatinine": "Serum creatinine",
                "patient.egfr": "eGFR", "patient.painType": "Pain", "patient.conditions": "Conditions",
                "procedure": "Planned procedure", "procedure.procedure": "Procedure",
                "procedure.date": "Procedure date", "procedure.level": "Spinal level", "regimen": "Ordered lines",
                "patient.medications": "Current medications", "drug": "drug", "dose": "dose",
                "frequency": "how often", "route": "route", "durationDays": "days", "startDate": "taken since",
                "prn": "as needed"}


def field_words(path: str) -> str:
    """A field's path as the form's label says it: `regimen[1].frequency` is "Ordered line 2: how often"."""
    match = _LINE_KEY.match(path)
    if match:
        where = f"{'Ordered line' if match[1] == 'regimen' else 'Current medication'} {int(match[2]) + 1}"
        field_name = match[3].split(".")[0]
        return f"{where}: {_FIELD_WORDS.get(field_name, field_name)}"
    line = re.fullmatch(r"(regimen|patient\.medications)\[(\d{1,4})\]", path)
    if line:
        return f"{'Ordered line' if line[1] == 'regimen' else 'Current medication'} {int(line[2]) + 1}"
    return _FIELD_WORDS.get(path, _FIELD_WORDS.get(path.rsplit(".", 1)[0], path))
