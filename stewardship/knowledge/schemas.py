"""What each file of drugdata/ must look like: marshmallow schemas, strict (an unknown field is an error)."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .values import (
    ACTIONS,
    APPLIES_TO,
    BEERS_RECOMMENDATIONS,
    CONDITION_KEYWORDS,
    DOSE_UNITS,
    EFFECTS,
    POPULATIONS,
    ROUTES,
)


# ---------------------------------------------------------------------------------------------------- schemas
def _source_field() -> fields.String:
    # "<id>: <locator>": the id says which document, the locator which table or section of it.
    return fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9.-]*: \S.*$", error="must read '<source-id>: <table or section>'"))


class _Strict(Schema):
    class Meta:
        ordered = True


def _unverified_field() -> fields.String:
    # Why a fact is NOT verified against its primary text (e.g. "read only as quoted by a secondary summary"). Such a
    # fact is listed as unverified on the knowledge page and may raise info at most (the loader holds it to that).
    return fields.String(load_default=None, validate=validate.Length(min=10))


def _applies_to_field() -> fields.String:
    # "initiation" on a starting-dose statement: it speaks to a line that starts the drug, not to one continuing it
    return fields.String(load_default="every_line", validate=validate.OneOf(APPLIES_TO))


def _info_at_most(data: dict) -> None:
    if data.get("unverified") and data["action"] != "caution":
        raise ValidationError("an unverified fact raises info at most: action must be caution", "action")


class SourceSchema(_Strict):
    title = fields.String(required=True, validate=validate.Length(min=5))
    publisher = fields.String(required=True)
    url = fields.Url(required=True)
    edition = fields.String(required=True)


class ReviewedSchema(_Strict):
    checked_by = fields.String(required=True, validate=validate.Length(min=3))
    checked_on = fields.Date(required=True)
    next_review = fields.Date(required=True)

    @validates_schema
    def _review_after_check(self, data: dict, **_: Any) -> None:
        if data["next_review"] <= data["checked_on"]:
            raise ValidationError("must come after checked_on", "next_review")


class EffectSchema(_Strict):
    grade = fields.Integer(required=True, strict=True, validate=validate.Range(0, 3))
    source = _source_field()


class ClassSchema(_Strict):
    label = fields.String(required=True)
    systemic = fields.Boolean(load_default=True)
    effects = fields.Dict(keys=fields.String(validate=validate.OneOf(EFFECTS)),
                          values=fields.Nested(EffectSchema), load_default=dict)


class ClassesFileSchema(_Strict):
    classes = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9_]+$")),
                          values=fields.Nested(ClassSchema), required=True)


class AmountSchema(_Strict):
    value = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    unit = fields.String(required=True, validate=validate.OneOf(DOSE_UNITS))


class MaxDoseSchema(AmountSchema):
    population = fields.String(required=True, validate=validate.OneOf(POPULATIONS))
    route = fields.String(load_default="oral", validate=validate.OneOf(ROUTES))
    # older_adult: from which age in completed years ("over 75" is 76; Beers' "older adults" is 65)
    min_age = fields.Integer(load_default=None, strict=True, validate=validate.Range(18, 120))
    # a maximum that holds for one kind of formulation only (tramadol ER 300 mg vs IR 400 mg)
    release = fields.String(load_default="any", validate=validate.OneOf(("any", "immediate", "extended")))
    # low_body_weight: the maximum holds below this body weight in kg (ketorolac IV/IM "less than 50 kg" is 50)
    weight_below_kg = fields.Float(load_default=None, validate=validate.Range(min=1, max=200))
    # a maximum from this day of a course on (methocarbamol: about 4 g/day after the first 48 to 72 hours is 4)
    from_day = fields.Integer(load_default=None, strict=True, validate=validate.Range(2, 366))
    # the substance the value is stated for where the label states it for a salt (a key of salt_equivalents)
    basis = fields.String(load_default=None)
    # info where the maximum's force depends on an indication the check does not know (alprazolam 4 mg in anxiety),
    # or where only a secondary copy of the source was read
    severity = fields.String(load_default=None, validate=validate.OneOf(("info",)))
    note = fields.String(load_default=None)
    unverified = _unverified_field()
    source = _source_field()

    @validates_schema
    def _older_adult_has_age(self, data: dict, **_: Any) -> None:
        if data.get("unverified") and data["severity"] != "info":
            raise ValidationError("an unverified maximum raises info at most: severity must be info", "severity")
        if data["population"] == "older_adult" and data["min_age"] is None:
            raise ValidationError("an older_adult maximum says from which age (completed years)", "min_age")
        if (data["population"] == "low_body_weight") != (data["weight_below_kg"] is not None):
            raise ValidationError("a low_body_weight maximum, and only it, gives weight_below_kg", "weight_below_kg")


class SaltEquivalentSchema(_Strict):
    # "550 mg naproxen sodium = 500 mg naproxen": the amounts as the label's Description states them
    salt_mg = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    base_mg = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    source = _source_field()


class CourseLimitSchema(_Strict):
    # the longest course the label allows, all routes together (ketorolac: 5 days IV/IM and oral combined)
    max_days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 365))
    note = fields.String(load_default=None)
    source = _source_field()


class TolerantOnlySchema(_Strict):
    # a label that contraindicates the product in opioid non-tolerant patients (DURAGESIC 4), for these routes
    routes = fields.List(fields.String(validate=validate.OneOf(ROUTES)), required=True, validate=validate.Length(min=1))
    note = fields.String(load_default=None)
    source = _source_field()


class RenalBandSchema(_Strict):
    # CrCl edges in mL/min, written as the source writes them: ">= 30" crcl_from, "> 95" crcl_above,
    # "< 30" crcl_below, "<= 30" crcl_at_most. A band has at most one lower and one upper edge.
    crcl_from = fields.Float(load_default=None, validate=validate.Range(min=0))
    crcl_above = fields.Float(load_default=None, validate=validate.Range(min=0))
    crcl_below = fields.Float(load_default=None, validate=validate.Range(min=0, min_inclusive=False))
    crcl_at_most = fields.Float(load_default=None, validate=validate.Range(min=0))
    dialysis = fields.Boolean(load_default=False)
    route = fields.String(load_default=None, validate=validate.OneOf(ROUTES))
    release = fields.String(load_default="any", validate=validate.OneOf(("any", "immediate", "extended")))
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    max_daily_dose = fields.Nested(AmountSchema, load_default=None)
    # the longest dosing interval the band asks for, in hours (tramadol IR below CrCl 30: every 12 hours)
    min_interval_hours = fields.Float(load_default=None, validate=validate.Range(min=1, max=168))
    applies_to = _applies_to_field()
    note = fields.String(load_default=None)
    unverified = _unverified_field()
    source = _source_field()

    @validates_schema
    def _band_is_a_band(self, data: dict, **_: Any) -> None:
        _info_at_most(data)
        lows = [data[k] for k in ("crcl_from", "crcl_above") if data[k] is not None]
        highs = [data[k] for k in ("crcl_below", "crcl_at_most") if data[k] is not None]
        if len(lows) > 1 or len(highs) > 1:
            raise ValidationError("one lower edge (crcl_from or crcl_above) and one upper edge (crcl_below or "
                                  "crcl_at_most) at most", "crcl_below")
        if not data["dialysis"] and not lows and not highs:
            raise ValidationError("a band needs a CrCl edge or dialysis: true", "crcl_below")
        if lows and highs and lows[0] >= highs[0]:
            raise ValidationError("the upper edge must be above the lower edge", "crcl_below")


class HepaticSchema(_Strict):
    # Child-Pugh class the fact applies from: A (mild), B (moderate), C (severe); "any" for all hepatic impairment.
    severity_class = fields.String(load_default="any", validate=validate.OneOf(("any", "A", "B", "C")))
    # a fact written for one kind of formulation only (OPANA ER's hepatic section is not the IR label's)
    release = fields.String(load_default="any", validate=validate.OneOf(("any", "immediate", "extended")))
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    max_daily_dose = fields.Nested(AmountSchema, load_default=None)
    applies_to = _applies_to_field()
    note = fields.String(load_default=None)
    unverified = _unverified_field()
    source = _source_field()

    @validates_schema
    def _unverified_is_info(self, data: dict, **_: Any) -> None:
        _info_at_most(data)


class MmeFactorSchema(_Strict):
    route = fields.String(required=True, validate=validate.OneOf(ROUTES))
    dose_unit = fields.String(required=True, validate=validate.OneOf(DOSE_UNITS))
    value = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    note = fields.String(load_default=None)
    source = _source_field()


class BeersSchema(_Strict):
    table = fields.Integer(required=True, strict=True, validate=validate.Range(2, 7))
    recommendation = fields.String(required=True, validate=validate.OneOf(BEERS_RECOMMENDATIONS))
    # Table 3: the patient's condition (a contract keyword, or "delirium"); Tables 5/6: free text of the criterion
    condition = fields.String(load_default=None, allow_none=True)
    min_age = fields.Integer(load_default=None, strict=True)  # e.g. prasugrel, Table 4: age >= 75
    # "gi": the statement is carried by the gi rules (the NSAID GI-bleeding criterion), not by geriatric.beers
    carried_by = fields.String(load_default=None, validate=validate.OneOf(("gi",)))
    # info where the statement's force depends on an indication or a duration a check does not know
    severity = fields.String(load_default=None, validate=validate.OneOf(("info",)))
    # classes whose presence in the regimen is the statement's own exception (PPIs: "unless for high-risk patients,
    # e.g. oral corticosteroids or chronic NSAID use"): the service must not flag the PPI it advises with an NSAID
    except_with_classes = fields.List(fields.String(), load_default=list)
    note = fields.String(load_default=None)
    unverified = _unverified_field()
    source = _source_field()

    @validates_schema
    def _unverified_is_info(self, data: dict, **_: Any) -> None:
        if data.get("unverified") and data["severity"] != "info":
            raise ValidationError("an unverified statement raises info at most: severity must be info", "severity")

    @validates_schema
    def _table_3_names_a_condition(self, data: dict, **_: Any) -> None:
        if data["table"] == 3 and data["condition"] not in CONDITION_KEYWORDS + ("delirium",):
            raise ValidationError("a Table 3 statement names a condition keyword of the contract (or delirium)",
                                  "condition")


class EffectiveDoseSchema(AmountSchema):
    per = fields.String(load_default="day", validate=validate.OneOf(("day",)))
    note = fields.String(load_default=None)
    source = _source_field()


class TaperSchema(_Strict):
    # an ingredient's `taper:` in drugdata/ and an entry of `tapers:` in config/stopping_rules.yaml alike
    min_days = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 365))
    note = fields.String(required=True)
    source = _source_field()


class TopicalSchema(_Strict):
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    source = _source_field()


class DoseDependentClassesSchema(_Strict):
    # classes an ingredient acts as only above a daily amount (aspirin counts as an NSAID above 325 mg/day)
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    above_mg_per_day = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    source = _source_field()


class IngredientSchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9 ,.-]*$",
                                                                 error="must be a lowercase RxNorm name"))
    rxcui = fields.String(required=True, validate=validate.Regexp(r"^\d+$", error="must be digits"))
    synonyms = fields.List(fields.String(), load_default=list)
    salts = fields.List(fields.String(), load_default=list)
    brands = fields.List(fields.String(), load_default=list)
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    routes = fields.List(fields.String(validate=validate.OneOf(ROUTES)), load_default=list)
    topical = fields.Nested(TopicalSchema, load_default=None)
    effects = fields.Dict(keys=fields.String(validate=validate.OneOf(EFFECTS)),
                          values=fields.Nested(EffectSchema), load_default=dict)
    max_daily_dose = fields.List(fields.Nested(MaxDoseSchema), load_default=list)
    # per salt name (one of `salts`): how much base a stated amount of the salt is
    salt_equivalents = fields.Dict(keys=fields.String(), values=fields.Nested(SaltEquivalentSchema),
                                   load_default=dict)
    course_limit = fields.Nested(CourseLimitSchema, load_default=None)
    opioid_tolerant_only = fields.Nested(TolerantOnlySchema, load_default=None)
    dose_dependent_classes = fields.List(fields.Nested(DoseDependentClassesSchema), load_default=list)
    renal = fields.List(fields.Nested(RenalBandSchema), load_default=list)
    hepatic = fields.List(fields.Nested(HepaticSchema), load_default=list)
    mme_factors = fields.List(fields.Nested(MmeFactorSchema), load_default=list)
    beers = fields.List(fields.Nested(BeersSchema), load_default=list)
    effective_dose = fields.Nested(EffectiveDoseSchema, load_default=None)
    taper = fields.Nested(TaperSchema, load_default=None)
    reviewed = fields.Nested(ReviewedSchema, load_default=None)


class DoseFormSchema(_Strict):
    pattern = fields.String(required=True)
    route = fields.String(required=True, validate=validate.OneOf(ROUTES))
    extended_release = fields.Boolean(required=True)


class DoseFormsFileSchema(_Strict):
    source = _source_field()
    dose_forms = fields.List(fields.Nested(DoseFormSchema), required=True)
    text_hints = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class SnomedCodeSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d+$"))
    display = fields.String(required=True)
    source = fields.String(required=True)


class IcdPrefixSchema(Schema):
    prefix = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][0-9A-Z.]*$"))
    display = fields.String(required=True)
    source = fields.String(required=True)


class ValueSetUseSchema(Schema):
    file = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]+\.csv$"))  # under drugdata/valuesets/
    source = fields.String(required=True)
    # Only the ICD-10-CM codes of these categories are taken (a value set broader than the keyword); SNOMED CT whole.
    icd10_within = fields.List(fields.String(validate=validate.Regexp(r"^[A-Z][0-9A-Z.]*$")), load_default=list)


class ConditionCodesSchema(Schema):
    label = fields.String(required=True)
    snomed = fields.List(fields.Nested(SnomedCodeSchema), load_default=list)
    icd10_prefixes = fields.List(fields.Nested(IcdPrefixSchema), load_default=list)
    value_sets = fields.List(fields.Nested(ValueSetUseSchema), load_default=list)
    synonyms = fields.List(fields.String(validate=validate.Length(min=2)), load_default=list)  # whole phrases
    counts_when_resolved = fields.Boolean(load_default=False)
    history_source = fields.String(load_default=None)  # why a resolved condition still counts ("<id>: <locator>")
    implies = fields.List(fields.String(validate=validate.OneOf(CONDITION_KEYWORDS)), load_default=list)

    @validates_schema
    def _history_is_cited(self, data: dict, **_: Any) -> None:
        if data.get("counts_when_resolved") and not data.get("history_source"):
            raise ValidationError("a condition that counts when resolved cites why", "history_source")


class ConditionsFileSchema(Schema):
    source_notes = fields.String(required=True)
    conditions = fields.Dict(keys=fields.String(validate=validate.OneOf(CONDITION_KEYWORDS)),
                             values=fields.Nested(ConditionCodesSchema), required=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)


class ProcedureSchema(Schema):
    tier = fields.String(required=True, validate=validate.OneOf(("low", "intermediate", "high")))
    label = fields.String(required=True)
    levels = fields.Dict(keys=fields.String(validate=validate.OneOf(("cervical", "thoracic", "lumbar", "sacral"))),
                         values=fields.String(validate=validate.OneOf(("low", "intermediate", "high"))),
                         load_default=dict)
    note = fields.String(load_default=None)
    source = _source_field()


class HoldSchema(Schema):
    tiers = fields.List(fields.String(validate=validate.OneOf(("low", "intermediate", "high"))), required=True)
    hold_days = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 30))
    hold_hours = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 240))
    restart_hours = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 240))
    restart_hours_max = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 240))
    conditional = fields.Boolean(load_default=False)
    route = fields.String(load_default=None, validate=validate.OneOf(("intravenous", "subcutaneous")))
    regimen = fields.String(load_default=None)
    dose = fields.String(load_default=None, validate=validate.OneOf(("prophylactic", "therapeutic")))
    indication = fields.String(load_default=None, validate=validate.OneOf(("primary_prevention",
                                                                           "secondary_prevention")))
    inr = fields.String(load_default=None)
    note = fields.String(required=True)
    # label_floor: the drug label's own perioperative statement, read in the label text (a `label-*` source), stands
    # where the pain-procedure interval (ASRA) was not read: verified, but planned as the label's minimum only
    label_floor = fields.Boolean(load_default=False)
    unverified = _unverified_field()
    source = _source_field()

    @validates_schema
    def _one_interval(self, data: dict, **_: Any) -> None:
        if data["hold_days"] is None and data["hold_hours"] is None:
            raise ValidationError("a hold gives hold_days or hold_hours (0 for no hold)", "hold_days")

    @validates_schema
    def _label_floor_read_in_a_label(self, data: dict, **_: Any) -> None:
        if not data["label_floor"]:
            return
        if data.get("unverified"):
            raise ValidationError("a label floor is read in the label text: it cannot also be unverified",
                                  "label_floor")
        if not data["source"].startswith("label-"):
            raise ValidationError("a label floor cites the drug's label (a 'label-' source)", "source")


class RenalHoldSchema(Schema):
    crcl_below = fields.Float(required=True)
    tiers = fields.List(fields.String(validate=validate.OneOf(("low", "intermediate", "high"))), required=True)
    hold_days = fields.Integer(required=True, strict=True, validate=validate.Range(0, 30))
    note = fields.String(load_default=None)
    unverified = _unverified_field()
    source = _source_field()


class DrugHoldsSchema(Schema):
    ingredient = fields.String(required=True)
    holds = fields.List(fields.Nested(HoldSchema), required=True, validate=validate.Length(min=1))
    renal = fields.List(fields.Nested(RenalHoldSchema), load_default=list)
    consult = fields.String(load_default=None)
    check_inr = fields.Boolean(load_default=False)


class ProceduresFileSchema(Schema):
    edition = fields.String(required=True)
    reviewed = fields.Nested(ReviewedSchema, required=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(SourceSchema), required=True)
    procedures = fields.Dict(keys=fields.String(), values=fields.Nested(ProcedureSchema), required=True)
    drugs = fields.List(fields.Nested(DrugHoldsSchema), required=True)


class AliasSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=2))
    rxcui = fields.String(required=True, validate=validate.Regexp(r"^\d+$"))
    source = _source_field()


class AliasesFileSchema(Schema):
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(SourceSchema), load_default=dict)
    aliases = fields.List(fields.Nested(AliasSchema), required=True)


class IngredientsFileSchema(_Strict):
    reviewed = fields.Nested(ReviewedSchema, required=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(SourceSchema), load_default=dict)
    ingredients = fields.List(fields.Nested(IngredientSchema), required=True, validate=validate.Length(min=1))


