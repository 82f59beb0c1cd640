"""Dose arithmetic: frequencies, daily amounts per ingredient, kidney function.

Maxima are judged on what a patient may take in a day: the most frequent reading of a range ("q4-6h" is 6 a day),
the PRN maximum where one is given, every ingredient of a combination product.
"""
from __future__ import annotations

import math
import re

from .model import Dose, Frequency

_NAMED = {"once": 1, "daily": 1, "qd": 1, "q24h": 1, "qam": 1, "qpm": 1, "qhs": 1, "hs": 1, "bid": 2, "q12h": 2,
          "tid": 3, "q8h": 3, "qid": 4, "q6h": 4, "weekly": 1 / 7, "q72h": 1 / 3, "q48h": 1 / 2, "qod": 1 / 2}
_EVERY_HOURS = re.compile(r"^q(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*h(?:rs?)?$")
FREQUENCY_HELP = ("once, daily, BID, TID, QID, qHS, q4h ... q24h, q4-6h, q48h, q72h, weekly, "
                  'or {"timesPerDay": n}')


class FrequencyError(ValueError):
    pass


def parse_frequency(raw: object) -> Frequency:
    """A frequency as the API takes it, or `FrequencyError` with what is accepted."""
    if isinstance(raw, dict):
        times = raw.get("timesPerDay")
        if isinstance(times, bool) or not isinstance(times, (int, float)) or not 0 < times <= 48 or \
                not math.isfinite(times):
            raise FrequencyError("timesPerDay must be a number above 0 and at most 48")
        return Frequency(f"{times:g} times a day", float(times))
    if not isinstance(raw, str) or not raw.strip():
        raise FrequencyError(f"expected {FREQUENCY_HELP}")
    key = raw.strip().lower().replace(" ", "")
    if key in _NAMED:
        return Frequency(raw.strip(), float(_NAMED[key]))
    match = _EVERY_HOURS.match(key)
    if match:
        shortest = float(match.group(1))
        longest = float(match.group(2)) if match.group(2) else shortest
        if 0 < shortest <= longest <= 168:
            return Frequency(raw.strip(), 24 / shortest)
    raise FrequencyError(f"unknown frequency {raw!r}; expected {FREQUENCY_HELP}")


def cockcroft_gault(age_years: float, weight_kg: float, scr_mg_dl: float, female: bool) -> float:
    """Creatinine clearance in mL/min: ((140 - age) x weight) / (72 x SCr), x 0.85 for women (Cockcroft-Gault
    1976), with actual body weight, as the FDA labels that give renal bands by CrCl use it."""
    clearance = (140 - age_years) * weight_kg / (72 * scr_mg_dl)
    return max(0.0, clearance * (0.85 if female else 1.0))


def daily_amount(dose: Dose | None, frequency: Frequency | None, prn: bool, max_daily: Dose | None,
                 strength_value: float | None, strength_unit: str | None,
                 single_ingredient: bool) -> tuple[float | None, str | None]:
    """The ingredient's amount per day as (value, unit) with unit "mg" or "mcg/h" (a patch's delivery rate),
    or (None, reason) when the line does not say enough to compute it."""
    value, unit_or_reason = _daily_amount(dose, frequency, prn, max_daily, strength_value, strength_unit,
                                          single_ingredient)
    if value is not None and not math.isfinite(value):  # an absurd count times a strength: never 'Infinity'
        return None, "the dose is out of range"
    return value, unit_or_reason


def _daily_amount(dose: Dose | None, frequency: Frequency | None, prn: bool, max_daily: Dose | None,
                  strength_value: float | None, strength_unit: str | None,
                  single_ingredient: bool) -> tuple[float | None, str | None]:
    strength_unit = (strength_unit or "").lower()
    if strength_unit in ("mg/h", "mg/hr", "mcg/h", "mcg/hr"):  # a patch: what counts is the rate it delivers
        rate_mcg_h = (strength_value or 0) * (1000 if strength_unit.startswith("mg") else 1)
        if dose is None:
            return rate_mcg_h, "mcg/h"
        if dose.unit in ("tablet", "patch", "capsule"):
            return dose.value * rate_mcg_h, "mcg/h"
        if dose.unit == "mcg/h":
            return dose.value, "mcg/h"
    if dose is not None and dose.unit == "mcg/h":
        return (dose.value, "mcg/h") if single_ingredient else (None, "a patch rate for a combination product")

    per_day_dose = None
    if prn and max_daily is not None:
        per_day_dose = max_daily
        times = 1.0
    elif dose is not None and frequency is not None:
        per_day_dose, times = dose, frequency.times_per_day
    elif dose is None:
        return None, "no dose given"
    else:
        return None, "no frequency given"

    unit = per_day_dose.unit
    if unit == "mg":
        if not single_ingredient:
            return None, "a dose in mg does not say how much of each ingredient of a combination product"
        return per_day_dose.value * times, "mg"
    if unit in ("tablet", "capsule", "patch"):
        if strength_value is None or strength_unit != "mg":
            return None, "a count of units needs the product's strength (give a strength or a product code)"
        return per_day_dose.value * strength_value * times, "mg"
    if unit == "mL":
        if strength_value is None or strength_unit != "mg/ml":
            return None, "a volume needs the product's concentration in mg/mL"
        return per_day_dose.value * strength_value * times, "mg"
    return None, f"a dose in {unit} cannot be turned into mg per day"
