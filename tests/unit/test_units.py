"""Units: every amount becomes a number in the canonical unit of the dimension its field needs, converted by pint, or
a clear error."""
import pytest

from stewardship import units
from stewardship.units import UnitError


def test_creatinine_in_si_units_converts_to_mg_per_dl_with_factor_88_4():
    assert units.quantity(88.4, "umol/L", units.CREATININE) == pytest.approx(1.0, abs=1e-3)
    assert units.quantity(168, "µmol/L", units.CREATININE) == pytest.approx(1.90, abs=0.01)


def test_creatinine_in_mg_per_dl_is_kept():
    assert units.quantity(1.9, "mg/dL", units.CREATININE) == pytest.approx(1.9)


@pytest.mark.parametrize("unit, kg", [("kg", 61), ("lb", 27.669), ("[lb_av]", 27.669), ("g", 0.061)])
def test_body_weight_in_kg_or_lb(unit, kg):
    value = 61 if unit in ("kg", "lb", "[lb_av]") else 61
    assert units.quantity(value, unit, units.BODY_WEIGHT) == pytest.approx(kg, rel=1e-3)


@pytest.mark.parametrize("unit", ["mL/min", "mL/min/1.73m2", "mL/min/{1.73_m2}", "mL/min/1.73 m2"])
def test_clearance_and_egfr_are_ml_per_min(unit):
    assert units.quantity(28, unit, units.CLEARANCE) == pytest.approx(28)


def test_patch_rate_in_mcg_per_hour():
    assert units.quantity(25, "mcg/h", units.DOSE_RATE) == 25
    assert units.quantity(25, "mcg/hr", units.DOSE_RATE) == 25
    assert units.quantity(0.025, "mg/h", units.DOSE_RATE) == pytest.approx(25)


@pytest.mark.parametrize("value, unit, dimension", [
    (61, "lb", units.BODY_WEIGHT), (0.3, "g", units.MASS), (7, "mcg", units.MASS), (12.5, "mg/h", units.DOSE_RATE),
    (33.3, "mL/min/1.73m2", units.CLEARANCE), (150, "umol/L", units.CREATININE), (2.1, "mg/dL", units.CREATININE)])
def test_a_conversion_is_pints_own_to_the_last_digit(value, unit, dimension):
    amount = units.Q_(value, units.parse_unit(unit))
    if unit == "umol/L":  # a molar creatinine is first turned into a mass by its molar mass
        amount = amount * units.Q_(units.CREATININE_G_PER_MOL, "g/mol")
    assert units.quantity(value, unit, dimension) == float(amount.to(dimension.unit).magnitude)


def test_doses_in_mg_g_mcg():
    assert units.quantity(0.5, "g", units.MASS) == 500
    assert units.quantity(500, "mcg", units.MASS) == 0.5


@pytest.mark.parametrize("value, unit, dimension, words", [
    (1.9, "kg", units.CREATININE, "is not a creatinine concentration"),
    (61, "mg/dL", units.BODY_WEIGHT, "is not a body weight"),
    (600, "mL", units.MASS, "is not a mass"),
    (600, "furlongs", units.MASS, "is not a mass"),
    (600, "blorps", units.MASS, "unknown unit"),
    (600, "", units.MASS, "a unit is required"),
    ("600", "mg", units.MASS, "must be a number"),
    (True, "mg", units.MASS, "must be a number"),
    (-1, "mg", units.MASS, "must not be negative"),
    (float("nan"), "mg", units.MASS, "finite"),
    (1e308, "mg", units.MASS, "out of range"),
    (1e300, "tablet", units.COUNT, "out of range"),
])
def test_a_wrong_unit_or_value_is_an_error_naming_the_field(value, unit, dimension, words):
    with pytest.raises(UnitError) as caught:
        units.quantity(value, unit, dimension, field="patient.weight")
    assert caught.value.field == "patient.weight"
    assert words in caught.value.message


def test_from_json_needs_an_object():
    with pytest.raises(UnitError, match="expected an object"):
        units.from_json(61, units.BODY_WEIGHT, "patient.weight")
    assert units.from_json({"value": 61, "unit": "kg"}, units.BODY_WEIGHT, "w") == 61


def test_dimension_of_dose_units():
    assert units.dimension_of("mg") is units.MASS
    assert units.dimension_of("tablet") is units.COUNT
    assert units.dimension_of("application") is units.COUNT  # "apply capsaicin cream TID"
    assert units.dimension_of("mcg/h") is units.DOSE_RATE
    assert units.dimension_of("parsec") is None


@pytest.mark.parametrize("unit", ["(", "1/0", "mg/0", "{", ")"])
def test_unit_strings_that_break_the_parser_are_unknown_units(unit):
    with pytest.raises(UnitError, match="unknown unit"):
        units.quantity(5, unit, units.MASS, "dose")


def test_a_value_that_overflows_in_conversion_is_out_of_range():
    with pytest.raises(UnitError, match="out of range"):
        units.quantity(1e308, "kg", units.MASS, "dose")


def test_a_daily_amount_too_large_for_arithmetic_is_not_computed_rather_than_infinite():
    from stewardship.dosing import daily_amount
    from stewardship.model import Dose, Frequency
    value, reason = daily_amount(Dose(1e308, "tablet"), Frequency("TID", 3.0), False, None, 500.0, "mg", True)
    assert value is None and reason == "the dose is out of range"
