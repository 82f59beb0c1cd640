"""Quantities in, checked quantities out.

Every amount that reaches a rule goes through here: a `{"value", "unit"}` pair becomes a number in the canonical
unit of the dimension the field needs, converted by `pint`, or a `UnitError` that says which field, what was given
and what was expected. Units arrive both as people write them (`mg`, `lb`, `umol/L`, `mL/min/1.73m2`) and as
FHIR/UCUM writes them (`[lb_av]`, `mL/min/{1.73_m2}`), so both spellings are accepted.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pint

_registry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
_registry.define("tablet = [unit_count] = tab = tabs = tablets")
_registry.define("capsule = tablet = cap = caps = capsules")
_registry.define("patch = tablet = patches")
_registry.define("unit_dose = tablet = each = dose = doses")
# a topical "apply thinly TID" is a count of applications: no mg to add up, but the line is accepted and checked
_registry.define("application = tablet = applications = appl")
Q_ = _registry.Quantity

#: Creatinine's molar mass, 113.12 g/mol: 1 mg/dL = 88.4 umol/L, the factor laboratories use to report it in SI.
CREATININE_G_PER_MOL = 113.12
# Far above any real dose, body weight, lab value or clearance in its canonical unit (1e9 mg is a tonne); keeps
# every product of the dose arithmetic a finite number.
MAX_MAGNITUDE = 1e9

# UCUM and everyday spellings that pint does not know, mapped to ones it does.
_ALIASES = {
    "[lb_av]": "lb",
    "lbs": "lb",
    "mcg": "microgram",
    "ug": "microgram",
    "µg": "microgram",
    "umol": "micromole",
    "µmol": "micromole",
    "[iu]": "[unit_count]",
    "{tablet}": "tablet",
    "{tbl}": "tablet",
    "{capsule}": "capsule",
    "{patch}": "patch",
    "hr": "hour",
    "h": "hour",
}
# eGFR is reported per 1.73 m2 of body surface; the normalisation is a convention, not a dimension.
_BSA_SUFFIX = re.compile(r"/\s*\{?\s*1[.,]73\s*_?\s*m(?:2|\^2|²)\s*\}?\s*$", re.IGNORECASE)


class UnitError(ValueError):
    """A quantity that cannot be used: unknown unit, wrong dimension or not a finite number."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Dimension:
    name: str
    canonical: str  # the unit every value of this dimension is turned into
    examples: str

    @property
    def unit(self) -> pint.Unit:
        return _canonical_unit(self.canonical)


@lru_cache(maxsize=None)
def _canonical_unit(text: str) -> pint.Unit:
    return _registry.parse_units(text)


MASS = Dimension("mass", "mg", "mg, g, mcg")
BODY_WEIGHT = Dimension("body weight", "kg", "kg, lb")
DOSE_RATE = Dimension("mass per time", "mcg/h", "mcg/h, mg/h, mg/day")
CLEARANCE = Dimension("clearance", "mL/min", "mL/min, mL/min/1.73m2")
CREATININE = Dimension("creatinine concentration", "mg/dL", "mg/dL, umol/L")
COUNT = Dimension("count of units", "tablet", "tablet, capsule, patch, application")
VOLUME = Dimension("volume", "mL", "mL, L")


def _normalise_unit(unit: str) -> str:
    text = unit.strip()
    text = _BSA_SUFFIX.sub("", text)
    for alias, replacement in _ALIASES.items():
        text = re.sub(rf"(?<![A-Za-z\[]){re.escape(alias)}(?![A-Za-z\]])", replacement, text, flags=re.IGNORECASE)
    return text


@lru_cache(maxsize=512)
def parse_unit(unit: str) -> pint.Unit:
    """The pint unit for a unit string, or pint's own error for one it cannot read."""
    return _registry.parse_units(_normalise_unit(unit))


@lru_cache(maxsize=512)
def _conversion(unit: str, dimension: Dimension) -> tuple[float | None, float]:
    """How pint converts `unit` (already readable) to `dimension`'s canonical unit: (molar mass or None, factor).

    Every unit of these dimensions is multiplicative, and pint converts a magnitude as `value * factor` with a
    factor it caches per pair of units; this is that factor, read once per unit through pint, so an amount is
    converted by pint's own arithmetic without building two pint Quantities for every dose of every check (about a
    fifth of a check's request validation). A creatinine in a molar unit is first multiplied by its molar mass, as
    laboratories convert it. Raises pint's DimensionalityError for a unit of another dimension."""
    one = Q_(1.0, parse_unit(unit))
    if dimension is CREATININE and one.check("[substance] / [length] ** 3"):
        mass_per_volume = (one * Q_(CREATININE_G_PER_MOL, "g/mol")).units
        return CREATININE_G_PER_MOL, float(Q_(1.0, mass_per_volume).to(dimension.unit).magnitude)
    return None, float(one.to(dimension.unit).magnitude)


def quantity(value: object, unit: object, dimension: Dimension, field: str = "value") -> float:
    """`value` + `unit` as a number in `dimension`'s canonical unit, or a `UnitError` naming `field`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnitError(field, f"value must be a number, got {value!r}")
    if not math.isfinite(value):
        raise UnitError(field, "value must be a finite number")
    if value < 0:
        raise UnitError(field, "value must not be negative")
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError(field, f"a unit is required ({dimension.examples})")
    try:
        parse_unit(unit)
    except Exception:  # noqa: BLE001 - pint's parser raises many unrelated types (TokenError, ZeroDivisionError ...)
        raise UnitError(field, f"unknown unit {unit!r}; expected {dimension.name} ({dimension.examples})") from None
    try:
        molar_mass, factor = _conversion(unit, dimension)
    except pint.errors.DimensionalityError:
        raise UnitError(field, f"unit {unit!r} is not a {dimension.name}; expected one of {dimension.examples}") \
            from None
    converted = (value * molar_mass if molar_mass else value) * factor
    if not math.isfinite(converted) or converted > MAX_MAGNITUDE:
        raise UnitError(field, "value is out of range")
    return float(converted)


def from_json(payload: object, dimension: Dimension, field: str) -> float:
    """A `{"value": n, "unit": "..."}` object as a number in `dimension`'s canonical unit."""
    if not isinstance(payload, dict):
        raise UnitError(field, 'expected an object {"value": number, "unit": string}')
    return quantity(payload.get("value"), payload.get("unit"), dimension, field)


@lru_cache(maxsize=512)
def dimension_of(unit: str) -> Dimension | None:
    """Which of the dose dimensions a unit string belongs to (mass, count, rate, volume), or None."""
    try:
        parsed = parse_unit(unit)
    except Exception:  # noqa: BLE001 - pint raises several unrelated types for bad input
        return None
    probe = Q_(1, parsed)
    for dimension in (MASS, COUNT, DOSE_RATE, VOLUME):
        if probe.is_compatible_with(dimension.unit):
            return dimension
    return None


def convert(value: float, unit: str, to_unit: str) -> float | None:
    """`value` in `unit` expressed in `to_unit`, or None where the two are not of one dimension (a maximum in
    mcg/h says nothing about a daily amount in mg, and the reverse)."""
    if unit == to_unit:  # the same unit: nothing to convert
        return float(value)
    try:
        return float(Q_(value, parse_unit(unit)).to(parse_unit(to_unit)).magnitude)
    except Exception:  # noqa: BLE001 - pint raises DimensionalityError, UndefinedUnitError ... for a mismatch
        return None
