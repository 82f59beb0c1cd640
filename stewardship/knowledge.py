"""The drug knowledge base: drugdata/ loaded, schema-checked and cross-checked, as plain frozen values.

A knowledge file is clinical content: a typo in it is a wrong alert. So loading is strict and loud: every file is
validated against its schema, every `source` must name a registered citation, every class must exist, every RxCUI
must be an RxNorm ingredient in the offline subset; the first problem stops the load with the file, the entry and
the field named (`KnowledgeBaseError`). Run `python -m stewardship.knowledge` to validate drugdata/ by hand.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

DEFAULT_DRUGDATA = Path(__file__).resolve().parent.parent / "drugdata"

EFFECTS = ("sedation", "constipation", "anticholinergic", "serotonergic", "qt", "bleeding", "gi_ulcer",
           "nephrotoxic", "cns_active", "fall_risk", "respiratory_depression")
ROUTES = ("oral", "topical", "transdermal", "iv", "im", "sc", "rectal", "buccal", "sublingual", "nasal")
POPULATIONS = ("general", "older_adult", "hepatic")
ACTIONS = ("avoid", "reduce", "caution")
BEERS_RECOMMENDATIONS = ("avoid", "use_with_caution", "reduce_dose", "avoid_combination")
DOSE_UNITS = ("mg", "mcg", "g", "mcg/h")
PROCEDURE_KEYWORDS = ("scs_trial", "scs_implant", "drg_stimulation", "intrathecal_pump", "vertebral_augmentation",
                      "interlaminar_esi", "transforaminal_esi", "facet_mbb", "facet_rfa", "intradiscal",
                      "sympathetic_block", "si_joint_injection", "trigger_point_injection", "peripheral_nerve_block",
                      "peripheral_joint_injection")
CONDITION_KEYWORDS = ("ckd", "dialysis", "peptic_ulcer", "gi_bleed", "heart_failure", "hypertension",
                      "hypertension_uncontrolled", "hepatic_impairment", "cirrhosis", "sleep_apnea", "copd", "falls",
                      "dementia", "seizure_disorder", "pregnancy", "opioid_use_disorder", "alcohol_use_disorder",
                      "diabetes", "chronic_constipation", "urinary_retention", "narrow_angle_glaucoma", "long_qt",
                      "osteoporosis", "depression")


class KnowledgeBaseError(ValueError):
    """drugdata/ is not fit to load; the message names the file, the entry and the field."""


# ---------------------------------------------------------------------------------------------------- schemas
def _source_field() -> fields.String:
    # "<id>: <locator>": the id says which document, the locator which table or section of it.
    return fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9.-]*: \S.*$", error="must read '<source-id>: <table or section>'"))


class _Strict(Schema):
    class Meta:
        ordered = True


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
    note = fields.String(load_default=None)
    source = _source_field()

    @validates_schema
    def _older_adult_has_age(self, data: dict, **_: Any) -> None:
        if data["population"] == "older_adult" and data["min_age"] is None:
            raise ValidationError("an older_adult maximum says from which age (completed years)", "min_age")


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
    note = fields.String(load_default=None)
    source = _source_field()

    @validates_schema
    def _band_is_a_band(self, data: dict, **_: Any) -> None:
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
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    max_daily_dose = fields.Nested(AmountSchema, load_default=None)
    note = fields.String(load_default=None)
    source = _source_field()


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
    source = _source_field()

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
    min_days = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1))
    note = fields.String(required=True)
    source = _source_field()


class TopicalSchema(_Strict):
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
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


class ConditionCodesSchema(Schema):
    label = fields.String(required=True)
    snomed = fields.List(fields.Nested(SnomedCodeSchema), load_default=list)
    icd10_prefixes = fields.List(fields.Nested(IcdPrefixSchema), load_default=list)
    implies = fields.List(fields.String(validate=validate.OneOf(CONDITION_KEYWORDS)), load_default=list)


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
    source = _source_field()

    @validates_schema
    def _one_interval(self, data: dict, **_: Any) -> None:
        if data["hold_days"] is None and data["hold_hours"] is None:
            raise ValidationError("a hold gives hold_days or hold_hours (0 for no hold)", "hold_days")


class RenalHoldSchema(Schema):
    crcl_below = fields.Float(required=True)
    tiers = fields.List(fields.String(validate=validate.OneOf(("low", "intermediate", "high"))), required=True)
    hold_days = fields.Integer(required=True, strict=True, validate=validate.Range(0, 30))
    note = fields.String(load_default=None)
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


# ------------------------------------------------------------------------------------------------ the values
@dataclass(frozen=True)
class Citation:
    source_id: str
    locator: str
    title: str
    url: str
    edition: str

    @property
    def text(self) -> str:
        return f"{self.title} ({self.edition}), {self.locator}"


@dataclass(frozen=True)
class Review:
    checked_by: str
    checked_on: dt.date
    next_review: dt.date


@dataclass(frozen=True)
class Effect:
    grade: int
    source: Citation


@dataclass(frozen=True)
class DrugClass:
    key: str
    label: str
    systemic: bool
    effects: Mapping[str, Effect]


@dataclass(frozen=True)
class Amount:
    value: float
    unit: str


@dataclass(frozen=True)
class MaxDailyDose:
    population: str
    route: str
    amount: Amount
    min_age: int | None
    release: str
    note: str | None
    source: Citation


@dataclass(frozen=True)
class RenalBand:
    crcl_from: float | None
    crcl_above: float | None
    crcl_below: float | None
    crcl_at_most: float | None
    dialysis: bool
    route: str | None
    release: str  # any | immediate | extended
    action: str
    max_daily_dose: Amount | None
    note: str | None
    source: Citation
    min_interval_hours: float | None = None

    def covers(self, crcl_ml_min: float | None, on_dialysis: bool) -> bool:
        """Whether a patient with this CrCl (mL/min) or dialysis status falls in the band (upper edge exclusive)."""
        if self.dialysis:
            return on_dialysis
        if crcl_ml_min is None:
            return False
        return ((self.crcl_from is None or crcl_ml_min >= self.crcl_from)
                and (self.crcl_above is None or crcl_ml_min > self.crcl_above)
                and (self.crcl_below is None or crcl_ml_min < self.crcl_below)
                and (self.crcl_at_most is None or crcl_ml_min <= self.crcl_at_most))

    @property
    def label(self) -> str:
        """The band as the source writes it: "CrCl < 30 mL/min", "CrCl 30-59 mL/min", "on dialysis"."""
        if self.dialysis:
            return "on dialysis"
        parts = []
        for edge, sign in ((self.crcl_from, ">="), (self.crcl_above, ">"), (self.crcl_below, "<"),
                           (self.crcl_at_most, "<=")):
            if edge is not None:
                parts.append(f"{sign} {edge:g}")
        return "CrCl " + " and ".join(parts) + " mL/min"


@dataclass(frozen=True)
class HepaticFact:
    severity_class: str
    action: str
    max_daily_dose: Amount | None
    note: str | None
    source: Citation


@dataclass(frozen=True)
class MmeFactor:
    route: str
    dose_unit: str
    value: float
    note: str | None
    source: Citation


@dataclass(frozen=True)
class BeersStatement:
    table: int
    recommendation: str
    condition: str | None
    min_age: int | None
    carried_by: str | None
    severity: str | None
    note: str | None
    source: Citation
    except_with_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EffectiveDose:
    amount: Amount
    note: str | None
    source: Citation


@dataclass(frozen=True)
class Taper:
    min_days: int | None
    note: str
    source: Citation


@dataclass(frozen=True)
class Ingredient:
    name: str
    rxcui: str
    synonyms: tuple[str, ...]
    salts: tuple[str, ...]
    brands: tuple[str, ...]
    classes: tuple[str, ...]
    routes: tuple[str, ...]
    effects: Mapping[str, Effect]  # class defaults merged with this ingredient's overrides
    own_effects: Mapping[str, Effect]  # the overrides alone (what the ingredient is, whatever class it acts as)
    topical_classes: tuple[str, ...]  # what the drug is when applied to the skin (empty: same as systemic)
    topical_source: Citation | None
    max_daily_doses: tuple[MaxDailyDose, ...]
    renal: tuple[RenalBand, ...]
    hepatic: tuple[HepaticFact, ...]
    mme_factors: tuple[MmeFactor, ...]
    beers: tuple[BeersStatement, ...]
    effective_dose: EffectiveDose | None
    taper: Taper | None
    reviewed: Review
    file: str

    def effect(self, name: str) -> int:
        found = self.effects.get(name)
        return found.grade if found else 0


@dataclass(frozen=True)
class ProductIngredient:
    rxcui: str
    name: str  # the RxNorm ingredient name; for an in-scope ingredient, our knowledge-base name
    in_scope: bool
    strength_value: float | None
    strength_unit: str | None  # RxNorm unit, lowercased: mg, mcg, mg/ml, mg/hr, mcg/hr, mg/actuat ...
    strength_basis: str | None  # the substance the strength is stated for, often a salt


@dataclass(frozen=True)
class Product:
    rxcui: str
    name: str
    tty: str  # SCD, SBD, GPCK, BPCK
    dose_form: str | None
    brand: str | None
    ingredients: tuple[ProductIngredient, ...]
    complete: bool  # False where some co-ingredient had no RxCUI in any source
    source: str


@dataclass(frozen=True)
class RxNormConcept:
    """An RxNorm ingredient-level concept: IN, PIN (salt) or MIN (multiple ingredients)."""
    rxcui: str
    name: str
    tty: str
    ingredient_rxcuis: tuple[str, ...]


@dataclass(frozen=True)
class DoseForm:
    pattern: str
    route: str
    extended_release: bool


@dataclass(frozen=True)
class ConditionCodes:
    """What codes mean a condition keyword, and which keywords it implies (dialysis implies ckd)."""
    keyword: str
    snomed: frozenset[str]
    icd10_prefixes: tuple[str, ...]  # without dots, upper case
    implies: tuple[str, ...]


@dataclass(frozen=True)
class ProcedureTier:
    keyword: str
    tier: str
    label: str
    levels: Mapping[str, str]
    source: Citation

    def tier_at(self, level: str | None) -> str:
        return self.levels.get(level, self.tier) if level else self.tier


@dataclass(frozen=True)
class Hold:
    tiers: tuple[str, ...]
    hold_days: int | None
    hold_hours: int | None
    restart_hours: int | None
    restart_hours_max: int | None
    conditional: bool
    route: str | None
    dose: str | None
    indication: str | None
    note: str
    source: Citation


@dataclass(frozen=True)
class RenalHold:
    crcl_below: float
    tiers: tuple[str, ...]
    hold_days: int
    note: str | None
    source: Citation


@dataclass(frozen=True)
class DrugHolds:
    ingredient: str
    holds: tuple[Hold, ...]
    renal: tuple[RenalHold, ...]
    consult: str | None
    check_inr: bool


@dataclass(frozen=True)
class ProcedureGuidance:
    edition: str
    procedures: Mapping[str, ProcedureTier]
    drugs: Mapping[str, DrugHolds]


@dataclass
class KnowledgeBase:
    ingredients: dict[str, Ingredient]  # by name
    classes: dict[str, DrugClass]
    sources: dict[str, dict[str, str]]
    concepts: dict[str, RxNormConcept]  # by rxcui: IN, PIN, MIN
    products: dict[str, Product]  # by rxcui
    dose_forms: tuple[DoseForm, ...]  # longest pattern first
    text_hints: dict[str, str]  # typed word -> dose-form words
    conditions: dict[str, ConditionCodes]
    procedure_guidance: ProcedureGuidance
    aliases: dict[str, str]  # lowercased text people write -> the RxNorm product it means
    version: str
    by_rxcui: dict[str, Ingredient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_rxcui = {ingredient.rxcui: ingredient for ingredient in self.ingredients.values()}

    def ingredient_for_rxcui(self, rxcui: str) -> Ingredient | None:
        return self.by_rxcui.get(rxcui)

    def members(self, class_key: str) -> list[Ingredient]:
        return [i for i in self.ingredients.values() if class_key in i.classes]

    def condition_keywords(self, system: str, code: str) -> tuple[str, ...]:
        """The condition keywords a SNOMED CT or ICD-10-CM code means (none for a code the service does not know)."""
        if system == "http://snomed.info/sct":
            return tuple(k for k, c in self.conditions.items() if code in c.snomed)
        if system == "http://hl7.org/fhir/sid/icd-10-cm":
            bare = code.replace(".", "").upper()
            return tuple(k for k, c in self.conditions.items() if any(bare.startswith(p) for p in c.icd10_prefixes))
        return ()

    def with_implied(self, keywords: Iterable[str]) -> frozenset[str]:
        found = set(keywords)
        pending = list(found)
        while pending:
            codes = self.conditions.get(pending.pop())
            for implied in codes.implies if codes else ():
                if implied not in found:
                    found.add(implied)
                    pending.append(implied)
        return frozenset(found)

    def dose_form(self, name: str | None) -> DoseForm | None:
        """What an RxNorm dose form means for route and release (None for an unknown or missing form)."""
        if not name:
            return None
        lowered = name.lower()
        return next((form for form in self.dose_forms if form.pattern in lowered), None)


# -------------------------------------------------------------------------------------------------- loading
def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict as (dotted.field.path, message) pairs."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, "; ".join(messages))]
    return [(prefix, str(messages))]


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise KnowledgeBaseError(f"{path.name}: not valid YAML: {error}") from None


def _load_with(schema: Schema, data: Any, path: Path, entries: list | None = None) -> dict:
    try:
        return schema.load(data)
    except ValidationError as error:
        problems = []
        for where, message in _flatten(error.messages):
            parts = where.split(".")
            if entries is not None and len(parts) >= 2 and parts[0] == "ingredients" and parts[1].isdigit():
                index = int(parts[1])
                raw = entries[index] if index < len(entries) else None
                name = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
                problems.append(f"{path.name}: entry {name!r}: field {'.'.join(parts[2:]) or '(entry)'}: {message}")
            else:
                problems.append(f"{path.name}: field {where}: {message}")
        raise KnowledgeBaseError("\n".join(problems)) from None


class Citations:
    """Turns `"<source-id>: <locator>"` into a Citation, or fails naming where the bad citation stands."""

    def __init__(self, registry: Mapping[str, dict[str, str]]) -> None:
        self.registry = registry

    def cite(self, text: str, where: str) -> Citation:
        source_id, _, locator = text.partition(": ")
        entry = self.registry.get(source_id)
        if entry is None:
            raise KnowledgeBaseError(f"{where}: source {source_id!r} is not a registered source")
        if not locator.strip():
            raise KnowledgeBaseError(f"{where}: source {text!r} needs a locator ('<source-id>: <table or section>')")
        return Citation(source_id, locator, entry["title"], entry["url"], entry["edition"])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _rxnorm_rows(directory: Path, stem: str) -> list[dict[str, str]]:
    rows = _read_csv(directory / f"{stem}.csv")
    supplement = directory / f"supplement_{stem}.csv"
    if supplement.exists():
        rows += _read_csv(supplement)
    return rows


def _load_concepts(directory: Path) -> dict[str, RxNormConcept]:
    concepts = {}
    for row in _rxnorm_rows(directory, "ingredients"):
        parts = tuple(code for code in row["in_rxcui"].split(";") if code and code != "?")
        concepts[row["rxcui"]] = RxNormConcept(row["rxcui"], row["name"], row["tty"], parts)
    return concepts


def _load_products(directory: Path, scope_names: dict[str, str]) -> dict[str, Product]:
    rows_by_product: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _rxnorm_rows(directory, "products"):
        rows_by_product[row["rxcui"]].append(row)
    products = {}
    for rxcui, rows in rows_by_product.items():
        first = rows[0]
        seen: dict[str, ProductIngredient] = {}
        for row in rows:
            code = row["ingredient_rxcui"]
            if code in seen:  # a pack repeats an ingredient per contained drug: keep the first strength
                continue
            in_scope = bool(row["ingredient_in_scope"]) or code in scope_names
            seen[code] = ProductIngredient(
                rxcui=code,
                name=scope_names.get(code, row["ingredient_name"].lower()),
                in_scope=in_scope,
                strength_value=float(row["strength_value"]) if row["strength_value"] else None,
                strength_unit=row["strength_unit"].lower() or None,
                strength_basis=row["strength_basis"] or None,
            )
        named = int(first["n_ingredients_in_name"] or 0)
        products[rxcui] = Product(
            rxcui=rxcui, name=first["name"], tty=first["tty"], dose_form=first["dose_form"] or None,
            brand=first["brand_name"] or None, ingredients=tuple(seen.values()),
            complete=named <= len(seen) or first["tty"] in ("GPCK", "BPCK"), source=first["source"])
    return products


def _merge_effects(class_keys: Iterable[str], classes: dict[str, DrugClass],
                   overrides: Mapping[str, Effect]) -> dict[str, Effect]:
    merged: dict[str, Effect] = {}
    for key in class_keys:
        for name, effect in classes[key].effects.items():
            if name not in merged or effect.grade > merged[name].grade:
                merged[name] = effect
    merged.update(overrides)
    return merged


def load(directory: Path | str = DEFAULT_DRUGDATA) -> KnowledgeBase:
    """Read, validate and cross-check drugdata/. Raises `KnowledgeBaseError` on the first bad file."""
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".csv"):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())

    registry_path = root / "sources.yaml"
    raw_registry = _read_yaml(registry_path) or {}
    registry: dict[str, dict[str, str]] = {}
    for source_id, entry in raw_registry.items():
        registry[source_id] = _load_with(SourceSchema(), entry, registry_path)

    ingredient_files = sorted((root / "ingredients").glob("*.yaml"))
    raw_files = {path: _read_yaml(path) for path in ingredient_files}
    loaded_files = {}
    for path, raw in raw_files.items():
        entries = raw.get("ingredients") if isinstance(raw, dict) else None
        loaded = _load_with(IngredientsFileSchema(), raw, path, entries if isinstance(entries, list) else None)
        _register_sources(registry, loaded["sources"], path)
        loaded_files[path] = loaded
    citations = Citations(registry)

    classes_path = root / "classes.yaml"
    raw_classes = _load_with(ClassesFileSchema(), _read_yaml(classes_path), classes_path)["classes"]
    classes = {
        key: DrugClass(key, spec["label"], spec["systemic"], {
            name: Effect(e["grade"], citations.cite(e["source"], f"classes.yaml: class {key!r}: effects.{name}"))
            for name, e in spec["effects"].items()})
        for key, spec in raw_classes.items()
    }

    concepts = _load_concepts(root / "rxnorm")
    ingredients: dict[str, Ingredient] = {}
    for path, loaded in loaded_files.items():
        file_review = Review(**loaded["reviewed"])
        for spec in loaded["ingredients"]:
            ingredient = _build_ingredient(spec, path.name, file_review, classes, citations, concepts)
            if ingredient.name in ingredients:
                raise KnowledgeBaseError(
                    f"{path.name}: entry {ingredient.name!r}: field name: already defined in "
                    f"{ingredients[ingredient.name].file}")
            ingredients[ingredient.name] = ingredient

    scope_names = {ingredient.rxcui: ingredient.name for ingredient in ingredients.values()}
    products = _load_products(root / "rxnorm", scope_names)
    forms_path = root / "dose_forms.yaml"
    raw_forms = _load_with(DoseFormsFileSchema(), _read_yaml(forms_path), forms_path)
    citations.cite(raw_forms["source"], "dose_forms.yaml: field source")
    dose_forms = tuple(sorted((DoseForm(f["pattern"].lower(), f["route"], f["extended_release"])
                               for f in raw_forms["dose_forms"]), key=lambda form: -len(form.pattern)))

    conditions_path = root / "conditions.yaml"
    raw_conditions = _load_with(ConditionsFileSchema(), _read_yaml(conditions_path), conditions_path)
    conditions = {}
    for keyword, spec in raw_conditions["conditions"].items():
        for code in spec["snomed"] + spec["icd10_prefixes"]:
            if code["source"] not in raw_conditions["sources"]:
                raise KnowledgeBaseError(f"conditions.yaml: condition {keyword!r}: source {code['source']!r} is not in "
                                         "its sources")
        conditions[keyword] = ConditionCodes(keyword, frozenset(c["code"] for c in spec["snomed"]),
                                             tuple(p["prefix"].replace(".", "") for p in spec["icd10_prefixes"]),
                                             tuple(spec["implies"]))

    procedure_guidance = _load_procedures(root / "procedures.yaml", registry, ingredients)
    aliases = _load_aliases(root / "aliases.yaml", registry, products)

    newest_review = max((i.reviewed.checked_on for i in ingredients.values()), default=dt.date.min)
    version = f"{newest_review.isoformat()}+{digest.hexdigest()[:10]}"
    return KnowledgeBase(ingredients, classes, registry, concepts, products, dose_forms,
                         dict(raw_forms["text_hints"]), conditions, procedure_guidance, aliases, version)


def _register_sources(registry: dict[str, dict[str, str]], sources: Mapping[str, dict[str, str]], path: Path) -> None:
    """Add a file's own citations to the registry; an id is defined once in the whole knowledge base."""
    for source_id, entry in sources.items():
        if source_id in registry:
            raise KnowledgeBaseError(f"{path.name}: field sources.{source_id}: id already registered elsewhere")
        registry[source_id] = entry


def _load_aliases(path: Path, registry: dict[str, dict[str, str]], products: dict[str, Product]) -> dict[str, str]:
    raw = _load_with(AliasesFileSchema(), _read_yaml(path), path)
    _register_sources(registry, raw["sources"], path)
    citations = Citations(registry)
    aliases = {}
    for index, alias in enumerate(raw["aliases"]):
        citations.cite(alias["source"], f"{path.name}: aliases[{index}]")
        if alias["rxcui"] not in products:
            raise KnowledgeBaseError(f"{path.name}: aliases[{index}]: field rxcui: {alias['rxcui']} is not a product of "
                                     "the offline RxNorm subset")
        aliases[alias["text"].lower()] = alias["rxcui"]
    return aliases


def _load_procedures(path: Path, registry: dict[str, dict[str, str]],
                     ingredients: dict[str, Ingredient]) -> ProcedureGuidance:
    """drugdata/procedures.yaml: procedure risk tiers and peri-procedural holds (ASRA Pain Medicine guidance)."""
    raw = _load_with(ProceduresFileSchema(), _read_yaml(path), path)
    _register_sources(registry, raw["sources"], path)  # findings cite these like any other source
    citations = Citations(registry)
    procedures = {}
    for keyword, spec in raw["procedures"].items():
        if keyword not in PROCEDURE_KEYWORDS:
            raise KnowledgeBaseError(f"{path.name}: procedure {keyword!r}: not a contract procedure keyword")
        procedures[keyword] = ProcedureTier(keyword, spec["tier"], spec["label"], dict(spec["levels"]),
                                            citations.cite(spec["source"], f"{path.name}: procedure {keyword!r}"))
    missing = set(PROCEDURE_KEYWORDS) - set(procedures)
    if missing:
        raise KnowledgeBaseError(f"{path.name}: field procedures: no tier for {', '.join(sorted(missing))}")
    drugs = {}
    for index, spec in enumerate(raw["drugs"]):
        name = spec["ingredient"]
        where = f"{path.name}: drugs[{index}] {name!r}"
        if name not in ingredients:
            raise KnowledgeBaseError(f"{where}: field ingredient: not an ingredient of the knowledge base")
        drugs[name] = DrugHolds(
            name,
            tuple(Hold(tuple(h["tiers"]), h["hold_days"], h["hold_hours"], h["restart_hours"], h["restart_hours_max"],
                       h["conditional"], h["route"], h["dose"], h["indication"], h["note"],
                       citations.cite(h["source"], f"{where}: holds")) for h in spec["holds"]),
            tuple(RenalHold(r["crcl_below"], tuple(r["tiers"]), r["hold_days"], r["note"],
                            citations.cite(r["source"], f"{where}: renal")) for r in spec["renal"]),
            spec["consult"], spec["check_inr"])
    return ProcedureGuidance(raw["edition"], procedures, drugs)


def _build_ingredient(spec: dict, file: str, file_review: Review, classes: dict[str, DrugClass],
                      citations: Citations, concepts: dict[str, RxNormConcept]) -> Ingredient:
    name = spec["name"]
    where = f"{file}: entry {name!r}"

    def cite(text: str, field_name: str) -> Citation:
        return citations.cite(text, f"{where}: field {field_name}")

    for key in spec["classes"] + (spec["topical"]["classes"] if spec["topical"] else []):
        if key not in classes:
            raise KnowledgeBaseError(f"{where}: field classes: unknown class {key!r} (not in classes.yaml)")
    for i, statement in enumerate(spec["beers"]):
        for key in statement["except_with_classes"]:
            if key not in classes:
                raise KnowledgeBaseError(f"{where}: field beers[{i}].except_with_classes: unknown class {key!r}")
    concept = concepts.get(spec["rxcui"])
    if concept is None or concept.tty != "IN":
        raise KnowledgeBaseError(
            f"{where}: field rxcui: {spec['rxcui']} is not an RxNorm ingredient (IN) in drugdata/rxnorm/")

    overrides = {effect: Effect(e["grade"], cite(e["source"], f"effects.{effect}"))
                 for effect, e in spec["effects"].items()}

    def amount(raw: dict | None) -> Amount | None:
        return Amount(raw["value"], raw["unit"]) if raw else None

    topical = spec["topical"]
    return Ingredient(
        name=name,
        rxcui=spec["rxcui"],
        synonyms=tuple(spec["synonyms"]),
        salts=tuple(spec["salts"]),
        brands=tuple(spec["brands"]),
        classes=tuple(spec["classes"]),
        routes=tuple(spec["routes"]),
        effects=_merge_effects(spec["classes"], classes, overrides),
        own_effects=overrides,
        topical_classes=tuple(topical["classes"]) if topical else (),
        topical_source=cite(topical["source"], "topical.source") if topical else None,
        max_daily_doses=tuple(
            MaxDailyDose(d["population"], d["route"], Amount(d["value"], d["unit"]), d["min_age"], d["release"],
                         d["note"], cite(d["source"], f"max_daily_dose[{i}].source"))
            for i, d in enumerate(spec["max_daily_dose"])),
        renal=tuple(
            RenalBand(b["crcl_from"], b["crcl_above"], b["crcl_below"], b["crcl_at_most"], b["dialysis"], b["route"],
                      b["release"], b["action"],
                      amount(b["max_daily_dose"]), b["note"], cite(b["source"], f"renal[{i}].source"),
                      b["min_interval_hours"])
            for i, b in enumerate(spec["renal"])),
        hepatic=tuple(
            HepaticFact(h["severity_class"], h["action"], amount(h["max_daily_dose"]), h["note"],
                        cite(h["source"], f"hepatic[{i}].source"))
            for i, h in enumerate(spec["hepatic"])),
        mme_factors=tuple(
            MmeFactor(m["route"], m["dose_unit"], m["value"], m["note"], cite(m["source"], f"mme_factors[{i}]"))
            for i, m in enumerate(spec["mme_factors"])),
        beers=tuple(
            BeersStatement(b["table"], b["recommendation"], b["condition"], b["min_age"], b["carried_by"],
                           b["severity"], b["note"], cite(b["source"], f"beers[{i}].source"),
                           tuple(b["except_with_classes"]))
            for i, b in enumerate(spec["beers"])),
        effective_dose=EffectiveDose(
            Amount(spec["effective_dose"]["value"], spec["effective_dose"]["unit"]), spec["effective_dose"]["note"],
            cite(spec["effective_dose"]["source"], "effective_dose.source")) if spec["effective_dose"] else None,
        taper=Taper(spec["taper"]["min_days"], spec["taper"]["note"], cite(spec["taper"]["source"], "taper.source"))
        if spec["taper"] else None,
        reviewed=Review(**spec["reviewed"]) if spec["reviewed"] else file_review,
        file=file,
    )


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    try:
        kb = load(args[0] if args else DEFAULT_DRUGDATA)
    except KnowledgeBaseError as error:
        print(f"drugdata is invalid:\n{error}", file=sys.stderr)
        return 1
    print(f"drugdata {kb.version}: {len(kb.ingredients)} ingredients, {len(kb.classes)} classes, "
          f"{len(kb.products)} products, {len(kb.sources)} sources: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
