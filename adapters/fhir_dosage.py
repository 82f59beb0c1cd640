"""FHIR R4 `Dosage` (and MedicationAdministration.dosage) in, the domain's dose, frequency and maxima out.

Every dose shape R4 has is read; where a shape allows several readings the one that matters for maxima is taken and
said (`notes`): the high end of a `doseRange`, `frequencyMax` over `frequency`, the shortest `period`, the largest
daily amount of several instructions. What is given but cannot be read goes to `problems` (the hook turns them into
an info card); nothing is guessed. Free text (`text`, `patientInstruction`) is the last resort, read by a small
parser ("1-2 tablets every 4-6 hours as needed") for what the structured elements left out.
Input is the resource's JSON after it validated with fhir.resources.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

import yaml

from settings import packaged
from stewardship import units
from stewardship.model import Dose, Frequency

CONFIG = packaged("config") / "fhir_medications.yaml"
# UCUM units of time (Timing.periodUnit, Duration.code) in days.
PERIOD_IN_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
# SNOMED CT route codes (the FHIR R4 "SNOMED CT Route Codes" value set) for the routes the rules distinguish.
ROUTES = {"26643006": "oral", "6064005": "topical", "45890007": "transdermal", "47625008": "iv", "78421000": "im",
          "34206005": "sc", "37161004": "rectal", "54471007": "buccal", "37839007": "sublingual", "46713006": "nasal"}
COUNT_UNITS = {"", "tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tab}", "cap", "caps", "capsule",
               "capsules", "{capsule}", "{cap}", "patch", "patches", "{patch}", "1", "{each}", "each", "{spray}",
               "spray", "sprays", "actuat", "{actuat}", "puff", "puffs", "{puff}", "application", "{application}",
               "appl", "{appl}", "{dose}", "dose", "doses"}


@lru_cache(maxsize=1)
def vocabulary() -> dict:
    with CONFIG.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass(frozen=True)
class DosageReading:
    dose: Dose | None = None
    frequency: Frequency | None = None
    prn: bool = False
    max_daily: Dose | None = None
    route: str | None = None
    course_days: int | None = None
    notes: tuple[str, ...] = ()  # how it was read where a choice was made
    problems: tuple[str, ...] = ()  # given but not readable: said, not used

    @property
    def daily(self) -> tuple[float, str] | None:
        """(amount per day, unit) where the reading says it, for comparing instructions."""
        if self.prn and self.max_daily is not None:
            return self.max_daily.value, self.max_daily.unit
        if self.dose is not None and self.dose.unit == "mcg/h":
            return self.dose.value, "mcg/h"
        if self.dose is not None and self.frequency is not None:
            return self.dose.value * self.frequency.times_per_day, self.dose.unit
        return None


# ---------------------------------------------------------------------------------------------------- amounts
def amount(quantity: dict | None) -> Dose | None:
    """A FHIR Quantity as a dose in its canonical unit (mg, mcg/h, mL or a count), or None if it has no value.
    Raises units.UnitError for a unit that is not a dose unit."""
    if not quantity or quantity.get("value") is None:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    if unit.lower() in COUNT_UNITS:
        return Dose(float(quantity["value"]), "tablet")
    dimension = units.dimension_of(unit)
    if dimension is None:
        raise units.UnitError("dose", f"unit {unit!r} is not a dose unit")
    return Dose(units.quantity(float(quantity["value"]), unit, dimension, "dose"), dimension.canonical)


def days_of(duration: dict | None) -> float | None:
    """A FHIR Duration (or Age-like quantity of time) in days."""
    if not duration or not duration.get("value"):
        return None
    unit = duration.get("code") or duration.get("unit") or "d"
    per_day = PERIOD_IN_DAYS.get(unit) or PERIOD_IN_DAYS.get({"day": "d", "days": "d", "hour": "h", "hours": "h",
                                                              "week": "wk", "weeks": "wk", "month": "mo",
                                                              "months": "mo"}.get(str(unit).lower(), ""))
    return float(duration["value"]) * per_day if per_day else None


def _text(quantity: dict) -> str:
    return f"{quantity.get('value'):g} {quantity.get('unit') or quantity.get('code') or ''}".strip()


# ---------------------------------------------------------------------------------------------------- one dosage
def read_dosage(dosage: dict) -> DosageReading:
    """One Dosage (or MedicationAdministration.dosage: `dose`, `rateQuantity`, `rateRatio`)."""
    notes: list[str] = []
    problems: list[str] = []
    route = next((ROUTES[c.get("code")] for c in (dosage.get("route") or {}).get("coding") or []
                  if c.get("code") in ROUTES), None)
    prn = bool(dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"))
    dose, frequency = None, None
    rates = [dosage] if "dose" in dosage or "rateQuantity" in dosage or "rateRatio" in dosage else []
    entries = dosage.get("doseAndRate") or []
    ordered = [e for e in entries if _code(e.get("type")) == "ordered"] or entries
    for entry in ordered + rates:
        try:
            if dose is None:
                dose = _dose(entry, notes)
            if entry.get("rateQuantity") or entry.get("rateRatio") or entry.get("rateRange"):
                dose, frequency = _rate(entry, route, notes)
        except (units.UnitError, TypeError, ValueError, ZeroDivisionError) as error:
            problems.append(f"dose: {getattr(error, 'message', error)}")
    timing = dosage.get("timing") or {}
    if frequency is None:
        frequency = _frequency(timing, notes, problems)
    course = _course_days(timing)
    max_daily = None
    for ratio in _ratios(dosage.get("maxDosePerPeriod")):
        try:
            max_daily = _per_day(ratio)
        except (units.UnitError, TypeError, ValueError, ZeroDivisionError) as error:
            problems.append(f"maxDosePerPeriod: {getattr(error, 'message', error)}")
    reading = DosageReading(dose, frequency, prn, max_daily, route, course, tuple(notes), tuple(problems))
    if reading.dose is None or (reading.frequency is None and reading.dose.unit != "mcg/h"):
        reading = _fill_from_text(reading, dosage)
    return reading


def _code(concept: dict | None) -> str | None:
    return next((c.get("code") for c in (concept or {}).get("coding") or [] if c.get("code")), None)


def _dose(entry: dict, notes: list[str]) -> Dose | None:
    quantity = entry.get("doseQuantity") or entry.get("dose")
    if quantity:
        return amount(quantity)
    dose_range = entry.get("doseRange")
    if dose_range:
        high, low = dose_range.get("high"), dose_range.get("low")
        chosen = amount(high) or amount(low)
        if chosen is not None and high and low:
            notes.append(f"dose range {low.get('value'):g}-{_text(high)}: maxima and MME at the high end "
                         f"({_text(high)})")
        return chosen
    return None


def _rate(entry: dict, route: str | None, notes: list[str]) -> tuple[Dose | None, Frequency | None]:
    """A delivery rate. A patch (transdermal) is a rate in mcg/h, as the domain counts patches; any other route is
    a continuous infusion: the amount per hour, 24 times a day."""
    if entry.get("rateQuantity"):
        per_hour = amount(entry["rateQuantity"])
        label = _text(entry["rateQuantity"])
    elif entry.get("rateRatio"):
        ratio = entry["rateRatio"]
        numerator, hours = amount(ratio.get("numerator")), (days_of(ratio.get("denominator")) or 0) * 24
        per_hour = Dose(numerator.value / hours, numerator.unit) if numerator and hours else None
        label = f"{_text(ratio.get('numerator') or {})} per {_text(ratio.get('denominator') or {})}"
    else:
        high, low = entry["rateRange"].get("high"), entry["rateRange"].get("low")
        per_hour = amount(high) or amount(low)
        label = _text(high or low)
        if high and low:
            notes.append(f"rate range {low.get('value'):g}-{label}: maxima at the high end ({label})")
    if per_hour is None:
        return None, None
    if per_hour.unit == "mcg/h":
        if route in (None, "transdermal"):
            return per_hour, None
        return Dose(per_hour.value / 1000, "mg"), Frequency(f"continuous infusion {label}", 24.0)
    return per_hour, Frequency(f"continuous {label}", 24.0)


def _frequency(timing: dict, notes: list[str], problems: list[str]) -> Frequency | None:
    repeat = timing.get("repeat") or {}
    vocab = vocabulary()
    times = repeat.get("frequencyMax") or repeat.get("frequency")
    if repeat.get("period"):
        unit = repeat.get("periodUnit") or "d"
        shortest = min(float(repeat["period"]), float(repeat.get("periodMax") or repeat["period"]))
        days = shortest * PERIOD_IN_DAYS.get(unit, math.nan)
        if times and days > 0:
            if repeat.get("frequencyMax") or repeat.get("periodMax"):
                notes.append(f"{repeat.get('frequency') or times}-{times} times every {repeat['period']:g}"
                             f"{'-' + format(repeat['periodMax'], 'g') if repeat.get('periodMax') else ''} {unit}: "
                             f"the most frequent reading ({float(times):g} every {shortest:g} {unit})")
            return Frequency(f"{float(times):g} per {shortest:g} {unit}", float(times) / days)
        if not times and not repeat.get("when") and not repeat.get("timeOfDay"):
            problems.append(f"timing: a period of {shortest:g} {unit} without a frequency")
    events = repeat.get("when") or []
    if events:
        per_day = sum(3 if e in vocab["event_timing_per_day"]["three"] else 1 for e in events)
        return Frequency("at " + ", ".join(events), float(per_day) * (float(times) if times else 1.0))
    if repeat.get("timeOfDay"):
        return Frequency("at " + ", ".join(repeat["timeOfDay"]), float(len(repeat["timeOfDay"])))
    codes = [c.get("code") for c in (timing.get("code") or {}).get("coding") or [] if c.get("code")]
    for code in codes:
        if str(code).upper() in vocab["timing_codes"]:
            return Frequency(str(code), float(vocab["timing_codes"][str(code).upper()]))
    if codes:
        problems.append(f"timing.code {codes[0]!r} is not a timing abbreviation this service reads")
    return None


def _course_days(timing: dict) -> int | None:
    repeat = timing.get("repeat") or {}
    days = days_of(repeat.get("boundsDuration"))
    period = repeat.get("boundsPeriod") or {}
    if days is None and period.get("start") and period.get("end"):
        days = (_date(period["end"]) - _date(period["start"])).days + 1
    return max(1, math.ceil(days)) if days else None


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def _ratios(value: object) -> list[dict]:
    """maxDosePerPeriod is one Ratio in R4 and a list in R5: both are read."""
    return [r for r in (value if isinstance(value, list) else [value]) if isinstance(r, dict)]


def _per_day(ratio: dict) -> Dose | None:
    numerator = amount(ratio.get("numerator"))
    days = days_of(ratio.get("denominator"))
    return Dose(numerator.value / days, numerator.unit) if numerator and days else None


# ------------------------------------------------------------------------------------------- free text, last
_NUMBER = r"(\d+(?:\.\d+)?|one|two|three|four|five|six|half|1/2)"
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "half": 0.5, "1/2": 0.5}
_SIG_DOSE = re.compile(rf"\b{_NUMBER}(?:\s*(?:-|to|or)\s*{_NUMBER})?\s*(tablets?|tabs?|capsules?|caps?|patch(?:es)?|"
                       r"puffs?|sprays?|mg|mcg|g|ml)\b")
_SIG_EVERY = re.compile(rf"\b(?:every|q)\s*{_NUMBER}(?:\s*(?:-|to)\s*{_NUMBER})?\s*(?:hours?|hrs?|h)\b")
_SIG_TIMES = re.compile(rf"\b({_NUMBER}\s*times?|once|twice|thrice)\s*(?:a|per|each|every)?\s*(?:day|daily)\b")
_SIG_NAMED = (("every other day", 0.5), ("at bedtime", 1), ("nightly", 1), ("every night", 1),
              ("every morning", 1), ("once daily", 1), ("daily", 1), ("qhs", 1), ("qd", 1), ("bid", 2),
              ("tid", 3), ("qid", 4))
_SIG_PRN = re.compile(r"\b(?:as needed|prn|if needed|when required)\b")
_SIG_MAX = re.compile(rf"\b(?:max(?:imum)?|not to exceed|do not exceed|no more than|up to)\s*(?:of\s*)?{_NUMBER}\s*"
                      r"(tablets?|tabs?|capsules?|caps?|mg|mcg|g)\s*(?:per|a|in|/|each)\s*(?:day|24\s*h(?:ours?|rs?)?)")
_SIG_UNITS = {"tablet": "tablet", "tab": "tablet", "capsule": "tablet", "cap": "tablet", "patch": "tablet",
              "puff": "tablet", "spray": "tablet", "mg": "mg", "mcg": "mcg", "g": "g", "ml": "mL"}


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    return float(_WORDS.get(text, text)) if text in _WORDS or re.fullmatch(r"\d+(?:\.\d+)?", text) else None


def _sig_unit(word: str) -> str:
    stem = word.rstrip("s") if word not in ("mcg",) else word
    return _SIG_UNITS.get(stem, _SIG_UNITS.get(stem.rstrip("e"), "tablet"))


@dataclass(frozen=True)
class Sig:
    """What a free-text sig says; for a range ("1-2", "every 4-6 hours") the reading that is most per day."""
    dose: Dose | None = None
    frequency: Frequency | None = None
    prn: bool = False
    max_daily: Dose | None = None
    ranges: tuple[str, ...] = field(default_factory=tuple)


def parse_sig(text: str) -> Sig:
    key = re.sub(r"\s+", " ", text.lower())
    ranges: list[str] = []
    dose = None
    match = _SIG_DOSE.search(key)
    if match:
        low, high = _number(match.group(1)), _number(match.group(2))
        unit = _sig_unit(match.group(3))
        value = max(v for v in (low, high) if v is not None)
        dose = _canonical(value, unit)
        if high is not None:
            ranges.append(f"dose {match.group(0)}: the high end ({value:g})")
    frequency = None
    every = _SIG_EVERY.search(key)
    times = _SIG_TIMES.search(key)
    if every:
        shortest = min(v for v in (_number(every.group(1)), _number(every.group(2))) if v is not None)
        if shortest > 0:
            frequency = Frequency(every.group(0), 24 / shortest)
            if every.group(2):
                ranges.append(f"{every.group(0)}: the shortest interval ({shortest:g} h)")
    elif times:
        word = times.group(1)
        count = {"once": 1, "twice": 2, "thrice": 3}.get(word) or _number(times.group(2))
        frequency = Frequency(times.group(0), float(count)) if count else None
    else:
        named = next(((phrase, per_day) for phrase, per_day in _SIG_NAMED if re.search(rf"\b{phrase}\b", key)), None)
        frequency = Frequency(named[0], float(named[1])) if named else None
    maximum = _SIG_MAX.search(key)
    max_daily = _canonical(_number(maximum.group(1)) or 0, _sig_unit(maximum.group(2))) if maximum else None
    return Sig(dose, frequency, bool(_SIG_PRN.search(key)), max_daily, tuple(ranges))


def _canonical(value: float, unit: str) -> Dose:
    if unit == "tablet":
        return Dose(value, "tablet")
    dimension = units.dimension_of(unit)
    return Dose(units.quantity(value, unit, dimension, "dose"), dimension.canonical)


def _fill_from_text(reading: DosageReading, dosage: dict) -> DosageReading:
    """Structured elements first; the text fills only what they left out, and the line says it was read from text."""
    for element in ("text", "patientInstruction"):
        text = dosage.get(element)
        if not isinstance(text, str) or not text.strip():
            continue
        sig = parse_sig(text)
        dose = reading.dose or sig.dose
        frequency = reading.frequency or sig.frequency
        if (dose, frequency) == (reading.dose, reading.frequency) and not (sig.max_daily and not reading.max_daily):
            continue
        used = [what for what, mine, theirs in (("dose", reading.dose, sig.dose),
                                                ("frequency", reading.frequency, sig.frequency),
                                                ("maximum per day", reading.max_daily, sig.max_daily))
                if mine is None and theirs is not None]
        notes = reading.notes + (f"{', '.join(used)} read from the dosage {element} {text.strip()[:80]!r}",) + \
            sig.ranges
        return replace(reading, dose=dose, frequency=frequency, prn=reading.prn or sig.prn,
                       max_daily=reading.max_daily or sig.max_daily, notes=notes)
    return reading


# --------------------------------------------------------------------------------------- several instructions
def read_dosages(dosages: list[dict]) -> DosageReading:
    """Several dosageInstruction entries: the same `sequence` is concurrent (added up where the units agree),
    different ones are sequential (a taper, a loading dose): the largest daily amount counts, and the line says so."""
    if not dosages:
        return DosageReading()
    readings = [read_dosage(d) for d in dosages]
    if len(readings) == 1:
        return readings[0]
    groups: dict[object, list[DosageReading]] = {}
    for index, (dosage, reading) in enumerate(zip(dosages, readings)):
        groups.setdefault(dosage.get("sequence", f"#{index}"), []).append(reading)
    combined = [_concurrent(group) for group in groups.values()]
    problems = tuple(p for r in readings for p in r.problems)
    computable = [r for r in combined if r.daily is not None]
    chosen = max(computable, key=lambda r: r.daily[0]) if computable and len({r.daily[1] for r in computable}) == 1 \
        else (computable or combined)[0]
    notes = chosen.notes
    if len(combined) > 1:
        notes += (f"{len(dosages)} dosage instructions: the largest daily amount counted"
                  if computable and len({r.daily[1] for r in computable}) == 1 else
                  f"{len(dosages)} dosage instructions in different units: the first readable one counted",)
    course = sum(r.course_days or 0 for r in combined) or None
    return replace(chosen, problems=problems, notes=notes, course_days=course,
                   prn=any(r.prn for r in readings), route=chosen.route or next((r.route for r in readings
                                                                                 if r.route), None))


def _concurrent(group: list[DosageReading]) -> DosageReading:
    if len(group) == 1:
        return group[0]
    dailies = [r.daily for r in group]
    if all(dailies) and len({d[1] for d in dailies}) == 1 and dailies[0][1] != "mcg/h":
        total = sum(d[0] for d in dailies)
        return replace(group[0], dose=Dose(total, dailies[0][1]), frequency=Frequency("concurrent instructions", 1.0),
                       notes=sum((r.notes for r in group), ()) +
                       (f"{len(group)} concurrent instructions added up: {total:g} {dailies[0][1]} a day",))
    return replace(group[0], problems=group[0].problems + ("concurrent dosage instructions that cannot be added up: "
                                                          "the first one counted",))
