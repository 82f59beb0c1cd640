"""Request schemas for the JSON API: marshmallow turns JSON into the domain's `CheckRequest`, and every bad field
becomes one entry of the 400's `fields`, named by its path (`regimen[0].dose.unit`)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from stewardship import units
from stewardship.dosing import FrequencyError, parse_frequency
from stewardship.model import (CONDITIONS, PAIN_TYPES, PROCEDURES, ROUTES, CheckRequest, Dose, DrugLine, Outcome,
                               Patient, PlannedProcedure)
from stewardship.terminology import RXNORM_SYSTEM

MAX_LINES = 100  # regimen and medication lines per check (a documented limit, not a clinical one)
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


class QuantityField(fields.Field):
    """`{"value", "unit"}` in a unit of the field's dimension, as a float in the canonical unit."""

    def __init__(self, dimension: units.Dimension, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dimension = dimension

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> float:
        try:
            amount = units.from_json(value, self.dimension, attr or "value")
        except units.UnitError as error:
            raise ValidationError(error.message) from None
        return float(amount.magnitude)


class DoseField(fields.Field):
    """A dose: a mass (mg, g, mcg), a count of units (tablet, capsule, patch, application), a patch rate (mcg/h) or
    a volume."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Dose:
        if not isinstance(value, dict):
            raise ValidationError('expected an object {"value": number, "unit": string}')
        unit = value.get("unit")
        dimension = units.dimension_of(unit) if isinstance(unit, str) and unit.strip() else None
        if dimension is None:
            raise ValidationError(f"unit {unit!r} is not a dose unit "
                                  "(mg, g, mcg, tablet, capsule, patch, application, mcg/h, mL)")
        try:
            amount = units.quantity(value.get("value"), unit, dimension, attr or "dose")
        except units.UnitError as error:
            raise ValidationError(error.message) from None
        if amount.magnitude <= 0:
            raise ValidationError("a dose must be above 0")
        return Dose(float(amount.magnitude), dimension.canonical)


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
    """A drug: free text, or an RxNorm coding `{"system", "code"}`."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValidationError("a drug name must not be empty")
            if len(value) > 200:
                raise ValidationError("a drug name is at most 200 characters")
            return value.strip()
        if isinstance(value, dict):
            code = value.get("code")
            if value.get("system") != RXNORM_SYSTEM:
                raise ValidationError(f"a coded drug needs system {RXNORM_SYSTEM!r}")
            if not isinstance(code, str) or not code.strip().isdigit():
                raise ValidationError("an RxNorm code is a string of digits")
            return {"system": RXNORM_SYSTEM, "code": code.strip()}
        raise ValidationError("a drug is a name (string) or an RxNorm coding {\"system\", \"code\"}")


class FrequencyField(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any):
        try:
            return parse_frequency(value)
        except FrequencyError as error:
            raise ValidationError(str(error)) from None


class ConditionField(fields.Field):
    """A condition keyword (contract section 1), or a SNOMED CT / ICD-10-CM coding (mapped by the caller)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping | None, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if value not in CONDITIONS:
                raise ValidationError(f"unknown condition {value!r}; use a keyword ({', '.join(CONDITIONS)}) or a "
                                      "SNOMED CT / ICD-10-CM coding")
            return value
        if isinstance(value, dict):
            if value.get("system") not in (SNOMED, ICD10CM):
                raise ValidationError(f"a coded condition needs system {SNOMED!r} or {ICD10CM!r}")
            if not isinstance(value.get("code"), str) or not value["code"].strip():
                raise ValidationError("a coded condition needs a code (string)")
            return {"system": value["system"], "code": value["code"].strip()}
        raise ValidationError("a condition is a keyword or a coding {\"system\", \"code\"}")


def _not_future(day: dt.date) -> None:
    if day > dt.date.today() + dt.timedelta(days=1):
        raise ValidationError("must not be in the future")


class LineSchema(Schema):
    class Meta:
        unknown = RAISE

    drug = DrugField(required=True)
    dose = DoseField(load_default=None)
    frequency = FrequencyField(load_default=None)
    prn = fields.Boolean(load_default=False)
    maxDailyDose = DoseField(load_default=None)
    route = RouteField(load_default=None)
    startDate = fields.Date(load_default=None)
    durationDays = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 3650))
    note = fields.String(load_default=None, validate=validate.Length(max=1000))

    @validates_schema(skip_on_field_errors=False, pass_original=True)  # named beside the other fields' errors
    def _dose_needs_a_frequency(self, data: dict, original: Any, **_: Any) -> None:
        given = original.get("frequency") if isinstance(original, dict) else None
        if data.get("dose") is not None and given is None and not data.get("prn"):
            raise ValidationError("give a frequency with a dose (e.g. \"TID\", \"q6h\", \"once\")", "frequency")


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

    id = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
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
    conditions = fields.List(ConditionField(), load_default=list, validate=validate.Length(max=200))
    painType = fields.String(load_default=None, validate=validate.OneOf(PAIN_TYPES))
    gestationalWeeks = fields.Float(load_default=None, validate=validate.Range(0, 45))
    childPughClass = fields.String(load_default=None, validate=validate.OneOf(("A", "B", "C")))
    medications = fields.List(fields.Nested(LineSchema), load_default=list, validate=validate.Length(max=MAX_LINES))
    outcomes = fields.List(fields.Nested(OutcomeSchema), load_default=list, validate=validate.Length(max=200))
    plannedProcedures = fields.List(fields.Nested(ProcedureSchema), load_default=list,
                                    validate=validate.Length(max=20))


class CheckSchema(Schema):
    class Meta:
        unknown = RAISE

    patient = fields.Nested(PatientSchema, required=True)
    regimen = fields.List(fields.Nested(LineSchema), required=True, validate=validate.Length(max=MAX_LINES))
    asOf = fields.Date(load_default=None)

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
    regimen = fields.List(fields.Nested(LineSchema), load_default=list, validate=validate.Length(max=MAX_LINES))


def _line(ref: str, data: dict, current: bool) -> DrugLine:
    return DrugLine(ref=ref, drug=data["drug"], dose=data["dose"], frequency=data["frequency"], prn=data["prn"],
                    max_daily_dose=data["maxDailyDose"], route=data["route"], start_date=data["startDate"],
                    duration_days=data["durationDays"], current=current)


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

