"""The knowledge base's vocabulary and the frozen values the engine reads."""
from __future__ import annotations

import datetime as dt
import importlib.resources
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from ..prescribable import Prescribable


DEFAULT_DRUGDATA = Path(str(importlib.resources.files("drugdata")))  # travels with the code: settings.packaged

EFFECTS = ("sedation", "constipation", "anticholinergic", "serotonergic", "qt", "bleeding", "gi_ulcer",
           "nephrotoxic", "cns_active", "fall_risk", "respiratory_depression")
ROUTES = ("oral", "topical", "transdermal", "iv", "im", "sc", "rectal", "buccal", "sublingual", "nasal")
# low_body_weight: a maximum for patients under a body weight (ketorolac IV/IM: "less than 50 kg")
POPULATIONS = ("general", "older_adult", "hepatic", "low_body_weight")
ACTIONS = ("avoid", "reduce", "caution")
# Which lines a renal band or hepatic fact speaks to: every line of the drug, or only one that starts it (a label's
# starting-dose statement, "initiate with one-half the usual starting dose", says nothing of a patient already on it).
APPLIES_TO = ("every_line", "initiation")
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
    weight_below_kg: float | None = None
    from_day: int | None = None
    basis: str | None = None  # a salt name where the value is stated for the salt; None: the ingredient itself
    severity: str | None = None  # "info": the maximum is said, never enforced (indication unknown, unverified)
    unverified: str | None = None  # why the maximum is not verified against its primary text (info at most)


@dataclass(frozen=True)
class SaltEquivalent:
    salt: str
    salt_mg: float
    base_mg: float
    source: Citation

    @property
    def base_per_salt(self) -> float:
        return self.base_mg / self.salt_mg


@dataclass(frozen=True)
class CourseLimit:
    max_days: int
    note: str | None
    source: Citation


@dataclass(frozen=True)
class TolerantOnly:
    """The label contraindicates the drug, by these routes, in patients who are not opioid-tolerant."""
    routes: tuple[str, ...]
    note: str | None
    source: Citation


@dataclass(frozen=True)
class DoseDependentClasses:
    """Classes the ingredient acts as only above a daily amount; at or below it, or where the amount is unknown,
    it is not counted in them (the lower reading is the one the source sets apart)."""
    classes: tuple[str, ...]
    above_mg_per_day: float
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
    unverified: str | None = None  # why the fact is not verified against its primary text (info at most)
    applies_to: str = "every_line"  # "initiation": a starting-dose statement, for a line that starts the drug

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
    release: str = "any"  # any | immediate | extended
    unverified: str | None = None
    applies_to: str = "every_line"  # "initiation": a starting-dose statement, for a line that starts the drug


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
    unverified: str | None = None  # read only in a secondary copy: said as info, never as an alert


@dataclass(frozen=True)
class EffectiveDose:
    amount: Amount
    note: str | None
    source: Citation


@dataclass(frozen=True)
class Taper:
    """How to stop a drug: its own (drugdata) or config/stopping_rules.yaml's, which takes precedence."""
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
    salt_equivalents: Mapping[str, SaltEquivalent] = field(default_factory=dict)
    course_limit: CourseLimit | None = None
    opioid_tolerant_only: TolerantOnly | None = None
    dose_dependent_classes: tuple[DoseDependentClasses, ...] = ()

    def effect(self, name: str) -> int:
        found = self.effects.get(name)
        return found.grade if found else 0


@dataclass(frozen=True, slots=True)  # some 50,000 of these with the prescribable content: no __dict__ each
class ProductIngredient:
    rxcui: str
    name: str  # the RxNorm ingredient name; for an in-scope ingredient, our knowledge-base name
    in_scope: bool
    strength_value: float | None
    strength_unit: str | None  # RxNorm unit, lowercased: mg, mcg, mg/ml, mg/hr, mcg/hr, mg/actuat ...
    strength_basis: str | None  # the substance the strength is stated for, often a salt


@dataclass(frozen=True, slots=True)
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
    icd10_codes: frozenset[str] = frozenset()  # exact codes from value sets, without dots, upper case
    phrases: frozenset[str] = frozenset()  # normalised displays and synonyms, for the text fallback
    counts_when_resolved: bool = False  # a resolved / inactive / in-remission record still counts (history)


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
    unverified: str | None = None  # a hold read only in a secondary copy: said, never planned as verified
    label_floor: bool = False  # the label's own minimum read in the label text, the ASRA interval not read


@dataclass(frozen=True)
class RenalHold:
    crcl_below: float
    tiers: tuple[str, ...]
    hold_days: int
    note: str | None
    source: Citation
    unverified: str | None = None


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
    reviewed: Review | None = None


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
    rxnorm_dir: Path | None = None  # drugdata/rxnorm: its prescribable/ folder is read on first use
    interactions: tuple = ()  # drugdata/interactions.yaml, as stewardship.interactions.Interaction values

    def __post_init__(self) -> None:
        self.by_rxcui = {ingredient.rxcui: ingredient for ingredient in self.ingredients.values()}

    @cached_property
    def prescribable(self) -> "Prescribable":
        """RxNorm Current Prescribable Content (drugdata/rxnorm/prescribable/): read once, when the terminology
        first needs it, so that validating drugdata/ does not pay for it."""
        from ..prescribable import Prescribable
        from ..prescribable import load as load_prescribable

        if self.rxnorm_dir is None:
            return Prescribable()
        return load_prescribable(self.rxnorm_dir / "prescribable", {i.rxcui: i.name for i in self.ingredients.values()})

    def members(self, class_key: str) -> list[Ingredient]:
        return [i for i in self.ingredients.values() if class_key in i.classes]

    def condition_keywords(self, system: str, code: str) -> tuple[str, ...]:
        """The condition keywords a SNOMED CT or ICD-10-CM code means (none for a code the service does not know)."""
        if system == "http://snomed.info/sct":
            return tuple(k for k, c in self.conditions.items() if code.strip() in c.snomed)
        if system == "http://hl7.org/fhir/sid/icd-10-cm":
            bare = code.replace(".", "").strip().upper()
            return tuple(k for k, c in self.conditions.items()
                         if bare in c.icd10_codes or any(bare.startswith(p) for p in c.icd10_prefixes))
        return ()

    def condition_keywords_for_phrase(self, phrase: str) -> tuple[str, ...]:
        """The keywords whose value-set displays or synonyms are exactly this normalised phrase."""
        return tuple(k for k, c in self.conditions.items() if phrase in c.phrases)

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


