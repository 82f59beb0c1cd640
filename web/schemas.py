"""Request schemas for the JSON API: marshmallow turns JSON into the domain's `CheckRequest`, and every bad field
becomes one entry of the 400's `fields`, named by its path (`regimen[0].dose.unit`). They are also the API's
description: `GET /openapi.json` is generated from them (web/openapi.py), a field's `metadata["description"]` included."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from stewardship import units
from stewardship.dosing import FrequencyError, parse_frequency
from stewardship.model import (
    CONDITIONS,
    PAIN_TYPES,
    PROCEDURES,
    ROUTES,
    CheckRequest,
    Dose,
    DrugLine,
    Outcome,
    Patient,
    PlannedProcedure,
)
from stewardship.prescribable import NDC_SYSTEM, ndc11
from stewardship.terminology import RXNORM_SYSTEM

from .errors import ApiError

MAX_LINES = 100  # regimen and medication lines per check (a documented limit, not a clinical one)
# Every string and list of a check has a maximum, so a stored check is bounded by its schema, not only by the body
# limit: codes were the last unbounded strings (an RxCUI has at most 7 digits today, a SNOMED CT id 18).
MAX_CODE_DIGITS, MAX_CODE_LENGTH = 12, 64
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _closed(value: Mapping, allowed: tuple[str, ...]) -> None:
    """A nested object is stored as sent, so it takes only the keys that are read (as the schemas refuse unknown
    fields), and a unit is a short word: a check cannot carry megabytes of ignored keys into the database."""
    unknown = sorted(str(key)[:40] for key in set(value) - set(allowed))
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(unknown[:5])}; expected only {', '.join(allowed)}")
    for key in ("unit", "display"):
        if isinstance(value.get(key), str) and len(value[key]) > (32 if key == "unit" else 200):
            raise ValidationError(f"{key} is too long")


class QuantityField(fields.Field):
    """`{"value", "unit"}` in a unit of the field's dimension, as a float in the canonical unit."""

    def __init__(self, dimension: units.Dimension, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dimension = dimension

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> float:
        if isinstance(value, dict):
            _closed(value, ("value", "unit"))
        try:
            return units.from_json(value, self.dimension, attr or "value")
        except units.UnitError as error:
            raise ValidationError(error.message) from None


class DoseField(fields.Field):
    """A dose: a mass (mg, g, mcg), a count of units (tablet, capsule, patch, application), a patch rate (mcg/h) or
    a volume."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Dose:
        if not isinstance(value, dict):
            raise ValidationError('expected an object {"value": number, "unit": string}')
        _closed(value, ("value", "unit"))
        unit = value.get("unit")
        dimension = units.dimension_of(unit) if isinstance(unit, str) and unit.strip() else None
        if dimension is None:
            raise ValidationError(f"unit {unit!r} is not a dose unit "
                                  "(mg, g, mcg, tablet, capsule, patch, application, mcg/h, mL)")
        try:
            amount = units.quantity(value.get("value"), unit, dimension, attr or "dose")
        except units.UnitError as error:
            raise ValidationError(error.message) from None
        if amount <= 0:
            raise ValidationError("a dose must be above 0")
        return Dose(amount, dimension.canonical)


# spellings prescribers type for the same routes
_ROUTE_WORDS = {"po": "oral", "by mouth": "oral", "subcutaneous": "sc", "subcut": "sc", "sq": "sc",
                "intravenous": "iv", "intramuscular": "im", "pr": "rectal", "sl": "sublingual", "intranasal": "nasal"}


class RouteField(fields.String):
    """A route: one of ROUTES, or a common spelling of one ("subcutaneous" is "sc", "PO" is "oral")."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        route = _ROUTE_WORDS.get(text, text)
        if route not in ROUTES:
            raise ValidationError(f"unknown route {value!r}; expected one of {', '.join(ROUTES)}")
        return route


class DrugField(fields.Field):
    """A drug: free text (a name, or a code typed as "rxcui:855332" or an NDC), or a coding `{"system", "code",
    "display"?}` in RxNorm or NDC; the display is tried as text where the code is not known."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValidationError("a drug name must not be empty")
            if len(value) > 200:
                raise ValidationError("a drug name is at most 200 characters")
            return value.strip()
        if isinstance(value, dict):
            _closed(value, ("system", "code", "display"))
            system, code, display = value.get("system"), value.get("code"), value.get("display")
            if system not in (RXNORM_SYSTEM, NDC_SYSTEM):
                raise ValidationError(f"a coded drug needs system {RXNORM_SYSTEM!r} (RxNorm) or {NDC_SYSTEM!r} (NDC)")
            if system == RXNORM_SYSTEM and (not isinstance(code, str) or not code.strip().isdigit()
                                            or len(code.strip()) > MAX_CODE_DIGITS):
                raise ValidationError(f"an RxNorm code is a string of at most {MAX_CODE_DIGITS} digits")
            if system == NDC_SYSTEM and (not isinstance(code, str) or ndc11(code) is None):
                raise ValidationError("an NDC code is 11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1")
            if display is not None and (not isinstance(display, str) or len(display) > 200):
                raise ValidationError("a coding's display is text of at most 200 characters")
            coding = {"system": system, "code": code.strip()}
            return {**coding, "display": display.strip()} if display and display.strip() else coding
        raise ValidationError('a drug is a name (string), or an RxNorm or NDC coding {"system", "code", "display"?}')


class FrequencyField(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        if isinstance(value, dict):
            _closed(value, ("timesPerDay",))
        try:
            return parse_frequency(value)
        except FrequencyError as error:
            raise ValidationError(str(error)) from None


class ConditionField(fields.Field):
    """A condition: a keyword (contract section 1); a SNOMED CT / ICD-10-CM coding {"system", "code"}; or a record
    {"keyword" | "system"+"code" | "text", "status"} where text is what a clinician wrote ("peptic ulcer disease",
    matched conservatively when no code is known) and status is active (default), resolved, inactive or remission."""

    RECORD_KEYS = frozenset({"keyword", "system", "code", "display", "text", "status"})
    STATUSES = ("active", "resolved", "inactive", "remission")

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if value not in CONDITIONS:
                raise ValidationError(f"unknown condition {value!r}; use a keyword ({', '.join(CONDITIONS)}), a "
                                      "SNOMED CT / ICD-10-CM coding, or {\"text\": \"...\"} for free text")
            return value
        if not isinstance(value, dict):
            raise ValidationError("a condition is a keyword, a coding {\"system\", \"code\"} or a record "
                                  "{\"keyword\" | \"system\"+\"code\" | \"text\", \"status\"}")
        unknown = sorted(set(value) - self.RECORD_KEYS)
        if unknown:
            raise ValidationError(f"unknown field(s) {', '.join(unknown)}; a condition record has "
                                  f"{', '.join(sorted(self.RECORD_KEYS))}")
        status = value.get("status", "active")
        if status not in self.STATUSES:
            raise ValidationError(f"status must be one of {', '.join(self.STATUSES)}")
        record: dict[str, str] = {"status": status}
        if "keyword" in value:
            if value["keyword"] not in CONDITIONS:
                raise ValidationError(f"unknown condition keyword {value['keyword']!r}; use one of "
                                      f"{', '.join(CONDITIONS)}")
            if set(value) - {"keyword", "status"}:
                raise ValidationError("a keyword condition takes no code or text")
            return {"keyword": value["keyword"], **record}
        for name in ("text", "display"):
            if name in value:
                if not isinstance(value[name], str) or not value[name].strip() or len(value[name]) > 300:
                    raise ValidationError(f"{name} must be a non-empty string of at most 300 characters")
                record[name] = value[name].strip()
        if "code" in value or "system" in value:
            if value.get("system") not in (SNOMED, ICD10CM):
                raise ValidationError(f"a coded condition needs system {SNOMED!r} or {ICD10CM!r}")
            if not isinstance(value.get("code"), str) or not value["code"].strip():
                raise ValidationError("a coded condition needs a code (string)")
            if len(value["code"].strip()) > MAX_CODE_LENGTH:
                raise ValidationError(f"a condition code is at most {MAX_CODE_LENGTH} characters")
            return {"system": value["system"], "code": value["code"].strip(), **record}
        if "text" not in record:
            raise ValidationError("a condition record needs a keyword, a system and code, or a text")
        return record


def _not_future(day: dt.date) -> None:
    if day > dt.date.today() + dt.timedelta(days=1):
        raise ValidationError("must not be in the future")


class LineSchema(Schema):
    class Meta:
        unknown = RAISE

    drug = DrugField(required=True, metadata={"description": (
        "free text (a name, brand, RxNorm display such as 'Warfarin Sodium 10 MG Oral Tablet', or a code typed as "
        "'rxcui:855332' or an NDC), or a coding: RxNorm (any term type) or NDC (11 digits or hyphenated 5-4-2, "
        "4-4-2, 5-3-2, 5-4-1); a coding's display is tried where its code is unknown")})
    dose = DoseField(load_default=None, metadata={"description": (
        "with a frequency unless prn; a count (tablet, capsule ...) is of units of the resolved product, mcg/h is "
        "for patches, mL for liquids")})
    frequency = FrequencyField(load_default=None, metadata={"description": "required with a dose unless prn"})
    prn = fields.Boolean(load_default=False, metadata={"description": "as needed"})
    maxDailyDose = DoseField(load_default=None, metadata={"description": "the most a day"})
    route = RouteField(load_default=None)
    startDate = fields.Date(load_default=None)
    durationDays = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 3650))
    note = fields.String(load_default=None, validate=validate.Length(max=1000))

    @validates_schema(skip_on_field_errors=False, pass_original=True)  # named beside the other fields' errors
    def _dose_needs_a_frequency(self, data: dict, original: Any, **_: Any) -> None:
        given = original.get("frequency") if isinstance(original, dict) else None
        if data.get("dose") is not None and given is None and not data.get("prn"):
            raise ValidationError("give a frequency with a dose (e.g. \"TID\", \"q6h\", \"once\")", "frequency")


def _lines(**kwargs: Any) -> fields.Nested:
    """A list of at most MAX_LINES regimen lines: one nested load of them all (a tenth faster than a List of Nested,
    one schema load per line), with the List's message for what is not a list."""
    return fields.Nested(LineSchema, many=True, validate=validate.Length(max=MAX_LINES),
                         error_messages={"type": "Not a valid list."}, **kwargs)


class OutcomeSchema(Schema):
    class Meta:
        unknown = RAISE

    drug = fields.String(required=True, validate=validate.Length(min=1, max=200))
    date = fields.Date(required=True)
    benefit = fields.Boolean(required=True)
    painScore = fields.Float(load_default=None, validate=validate.Range(0, 10))
    baselinePainScore = fields.Float(load_default=None, validate=validate.Range(0, 10))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class ProcedureSchema(Schema):
    class Meta:
        unknown = RAISE

    procedure = fields.String(required=True, validate=validate.OneOf(PROCEDURES))
    date = fields.Date(required=True)
    level = fields.String(load_default=None, validate=validate.OneOf(("cervical", "thoracic", "lumbar", "sacral")))


class PatientSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(load_default=None, validate=validate.Length(min=1, max=200),
                       metadata={"description": "the EHR's patient id"})
    birthDate = fields.Date(load_default=None, validate=_not_future)
    age = fields.Float(load_default=None, validate=validate.Range(0, 130))
    sex = fields.String(load_default=None, validate=validate.OneOf(("female", "male", "other", "unknown")))
    # Plausible ranges as field validators, so a 400 names them beside every other bad field.
    weight = QuantityField(units.BODY_WEIGHT, load_default=None,
                           validate=validate.Range(0.5, 500, error="a body weight between 0.5 and 500 kg"))
    serumCreatinine = QuantityField(units.CREATININE, load_default=None, validate=validate.Range(
        0.05, 30, error="a serum creatinine between 0.05 and 30 mg/dL (4.4-2650 umol/L)"))
    egfr = QuantityField(units.CLEARANCE, load_default=None,
                         validate=validate.Range(max=300, error="at most 300 mL/min"))
    crcl = QuantityField(units.CLEARANCE, load_default=None,
                         validate=validate.Range(max=300, error="at most 300 mL/min"))
    conditions = fields.List(ConditionField(), load_default=list, validate=validate.Length(max=200), metadata={
        "description": "each a keyword, a SNOMED CT / ICD-10-CM code, or free text matched as a whole phrase when no "
                       "code is known; status resolved / inactive / remission makes it history (it counts only for "
                       "ulcer, GI bleed, falls and substance use disorder rules)"})
    painType = fields.String(load_default=None, validate=validate.OneOf(PAIN_TYPES))
    gestationalWeeks = fields.Float(load_default=None, validate=validate.Range(0, 45),
                                    metadata={"description": "weeks of pregnancy"})
    childPughClass = fields.String(load_default=None, validate=validate.OneOf(("A", "B", "C")))
    medications = _lines(load_default=list, metadata={"description": "what the patient takes now, as regimen lines"})
    outcomes = fields.List(fields.Nested(OutcomeSchema), load_default=list, validate=validate.Length(max=200),
                           metadata={"description": "whether drugs tried before helped"})
    plannedProcedures = fields.List(fields.Nested(ProcedureSchema), load_default=list,
                                    validate=validate.Length(max=20),
                                    metadata={"description": "procedures to hold and restart drugs around"})


class CheckSchema(Schema):
    class Meta:
        unknown = RAISE

    patient = fields.Nested(PatientSchema, required=True)
    regimen = _lines(required=True, metadata={"description": "the lines proposed"})
    asOf = fields.Date(load_default=None, metadata={"description": "the day the check is for (default: today)"})

    @post_load
    def _to_request(self, data: dict, **_: Any) -> CheckRequest:
        patient = data["patient"]
        as_of = data["asOf"] or dt.date.today()
        return CheckRequest(
            patient=Patient(
                id=patient["id"], birth_date=patient["birthDate"], age_years=patient["age"], sex=patient["sex"],
                weight_kg=patient["weight"], serum_creatinine_mg_dl=patient["serumCreatinine"],
                egfr_ml_min=patient["egfr"], crcl_ml_min=patient["crcl"],
                conditions=tuple(patient["conditions"]),
                pain_type=patient["painType"], gestational_weeks=patient["gestationalWeeks"],
                child_pugh_class=patient["childPughClass"],
                medications=tuple(_line(f"patient.medications[{i}]", m, True)
                                  for i, m in enumerate(patient["medications"])),
                outcomes=tuple(Outcome(o["drug"], o["date"], o["benefit"], o["painScore"], o["baselinePainScore"],
                                       o["note"]) for o in patient["outcomes"]),
                planned_procedures=tuple(PlannedProcedure(p["procedure"], p["date"], p["level"])
                                         for p in patient["plannedProcedures"])),
            regimen=tuple(_line(f"regimen[{i}]", line, False) for i, line in enumerate(data["regimen"])),
            as_of=as_of)


class ProcedurePlanSchema(CheckSchema):
    """The check's body, with the regimen optional: a plan is about the drugs the patient takes."""
    regimen = _lines(load_default=list, metadata={"description": "the lines proposed, if any"})


def _line(ref: str, data: dict, current: bool) -> DrugLine:
    return DrugLine(ref=ref, drug=data["drug"], dose=data["dose"], frequency=data["frequency"], prn=data["prn"],
                    max_daily_dose=data["maxDailyDose"], route=data["route"], start_date=data["startDate"],
                    duration_days=data["durationDays"], current=current)


def load_or_400(schema: Schema, data: Any, message: str) -> Any:
    """`schema.load(data)`, or the one 400 of the API naming every bad field (web/errors.py's shape)."""
    try:
        return schema.load(data)
    except ValidationError as error:
        raise ApiError(400, "validation_failed", message, field_errors(error.messages)) from None


def field_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested errors as {"regimen[0].dose": "reason"}: list indices in brackets."""
    if isinstance(messages, dict):
        out: dict[str, str] = {}
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "(body)"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(field_errors(value, path))
        return out
    if isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "(body)": "; ".join(messages)}
        out = {}
        for message in messages:
            out.update(field_errors(message, prefix))
        return out
    return {prefix or "(body)": str(messages)}

