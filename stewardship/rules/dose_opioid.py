"""Doses and opioid stewardship: maxima (acetaminophen from all products), MME/day, ER/LA, naloxone, duration."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ..context import CheckContext, Exposure, mme_for, rule
from ..knowledge import MaxDailyDose
from ..model import Finding
from ..rulebook import Rule
from ..units import convert
from .common import amount_text, applies, course_reaches, mg, names, suggestion

_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def _limits(exposure: Exposure, populations: tuple[str, ...]) -> list[MaxDailyDose]:
    return [m for m in exposure.ingredient.max_daily_doses if m.population in populations and applies(m, exposure)]


def _in_unit(exposure: Exposure, unit: str) -> float | None:
    """The exposure's amount per day in `unit` (pint, through stewardship.units), None where the dimensions differ:
    a patch's mcg/h is never compared with a maximum in mg, and a maximum in mcg/h is read for patches."""
    if exposure.daily is None or exposure.daily_unit is None:
        return None
    return convert(exposure.daily, exposure.daily_unit, unit)


def _total_for(ctx: CheckContext, limit: MaxDailyDose, name: str) -> float | None:
    """The ingredient's total per day on every line the limit fits, in the limit's unit; None when no line is in a
    comparable unit."""
    amounts = [_in_unit(e, limit.amount.unit) for e in ctx.exposures if e.name == name and applies(limit, e)]
    counted = [a for a in amounts if a is not None]
    return sum(counted) if counted else None


def _ceiling(limit: MaxDailyDose, exposure: Exposure) -> float:
    """The maximum for the ingredient itself: a maximum stated for a salt is converted as the label converts it."""
    if limit.basis is None:
        return limit.amount.value
    return limit.amount.value * exposure.ingredient.salt_equivalents[limit.basis].base_per_salt


def _applies_to_patient(ctx: CheckContext, limit: MaxDailyDose) -> bool:
    if limit.population == "older_adult":
        return ctx.aged(limit.min_age)  # required for older_adult by the schema
    if limit.population == "low_body_weight":
        return ctx.patient.weight_kg is not None and ctx.patient.weight_kg < limit.weight_below_kg
    return True


def _amount(value: float, unit: str) -> str:
    return (mg(value) + "/day") if unit == "mg" else f"{value:g} {unit}" + ("" if "/" in unit else "/day")


def _over_limit(ctx: CheckContext, spec: Rule, populations: tuple[str, ...], words: str) -> Iterator[Finding]:
    """One finding per ingredient above a maximum that fits it: the most severe, then the lowest such maximum. An
    `info` maximum (indication unknown, or read only in a secondary copy) is said, never enforced; a maximum from a
    later day of the course is enforced when the course reaches that day and said when its length is unknown."""
    for exposure in ctx.distinct_systemic():
        if exposure.name == "acetaminophen":
            continue  # dose.acetaminophen_total counts every product together
        over = []
        for limit in _limits(exposure, populations):
            if not _applies_to_patient(ctx, limit):
                continue
            reaches = course_reaches(ctx, exposure, limit.from_day) if limit.from_day else True
            total, ceiling = _total_for(ctx, limit, exposure.name), _ceiling(limit, exposure)
            if reaches is False or total is None or total <= ceiling + 1e-9:
                continue
            severity = limit.severity or (spec.severity_for() if reaches else "info")
            over.append((_SEVERITY_RANK[severity], ceiling, severity, limit, total))
        if not over:
            continue
        _, ceiling, severity, limit, total = min(over, key=lambda o: (o[0], o[1]))
        unit = limit.amount.unit
        who = f" at age {ctx.age}" if limit.population == "older_adult" else \
            f" at {ctx.patient.weight_kg:g} kg" if limit.population == "low_body_weight" else ""
        when = f" from day {limit.from_day}" if limit.from_day else ""
        stated = (f" ({amount_text(limit.amount)} of {limit.basis} = {_amount(ceiling, unit)} of {exposure.name})"
                  if limit.basis else "")
        salts = sorted({e.salt for e in ctx.exposures if e.name == exposure.name and e.salt})
        converted = (f" Amounts of {', '.join(salts)} are counted as {exposure.name} "
                     f"({'; '.join(exposure.ingredient.salt_equivalents[s].source.text for s in salts)}).") \
            if salts else ""
        yield ctx.finding(spec, severity=severity, exposures=[e for e in ctx.exposures if e.name == exposure.name],
                          summary=f"{exposure.name} {_amount(total, unit)} is above the {words}maximum "
                                  f"{_amount(ceiling, unit)}{when}{who}",
                          detail=(f"{exposure.name} comes to {_amount(total, unit)} ({exposure.route}"
                                  f"{', ' + limit.release + ' release' if limit.release != 'any' else ''}); "
                                  f"the {words}maximum is {_amount(ceiling, unit)}{stated}{when}"
                                  f"{' from age ' + str(limit.min_age) if limit.min_age else ''}"
                                  f"{f' below {limit.weight_below_kg:g} kg' if limit.weight_below_kg else ''}"
                                  f"{': ' + limit.note if limit.note else ''}."
                                  + converted
                                  + (" The length of the course is not given: from that day on this maximum holds."
                                     if limit.from_day and severity == "info" and not limit.severity else "")),
                          citations=[limit.source],
                          suggestions=[suggestion(f"Reduce {exposure.name} to at most {_amount(ceiling, unit)}"
                                                  + when, "reduce_dose", drug=exposure.name, line=exposure.line.ref,
                                                  maxDailyDose={"value": round(ceiling, 2), "unit": unit})])


@rule("dose.max_daily")
def max_daily(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _over_limit(ctx, spec, ("general", "low_body_weight"), "")


@rule("dose.older_adult_max")
def older_adult_max(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _over_limit(ctx, spec, ("older_adult",), "older-adult ")


@rule("dose.course_length")
def course_length(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    """A drug whose label limits the whole course (ketorolac: 5 days, IV/IM and oral together): the course runs from
    the earliest start of any of its lines to the latest planned end of any."""
    for exposure in ctx.distinct_systemic():
        limit = exposure.ingredient.course_limit
        if limit is None or not exposure.ordered:
            continue
        lines = [e.line for e in ctx.all_exposures if e.name == exposure.name]
        as_of = ctx.request.as_of
        starts = [line.start_date or as_of for line in lines]
        ends = [(line.start_date or as_of) + dt.timedelta(days=line.duration_days - 1)
                for line in lines if line.duration_days]
        if not ends:
            continue
        days = (max(ends) - min(starts)).days + 1
        if days <= limit.max_days:
            continue
        routes = sorted({e.route for e in ctx.all_exposures if e.name == exposure.name})
        yield ctx.finding(spec, exposures=[e for e in ctx.exposures if e.name == exposure.name],
                          summary=f"{exposure.name} course of {days} days: above the {limit.max_days}-day limit",
                          detail=(f"{exposure.name} ({', '.join(routes)}) runs from {min(starts).isoformat()} to "
                                  f"{max(ends).isoformat()}, {days} days; the label limits the total course to "
                                  f"{limit.max_days} days{': ' + limit.note if limit.note else ''}."),
                          citations=[limit.source],
                          suggestions=[suggestion(f"Stop {exposure.name} by day {limit.max_days} of the course",
                                                  "reduce_dose", drug=exposure.name, line=exposure.line.ref,
                                                  durationDays=limit.max_days)])


@rule("dose.acetaminophen_total")
def acetaminophen_total(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    total, ceiling = ctx.derived["acetaminophenMgPerDay"], ctx.derived["acetaminophenMaxMgPerDay"]
    if ceiling is None or total <= ceiling:
        return
    lines = [e for e in ctx.exposures if e.name == "acetaminophen"]
    shares = "; ".join(f"{e.line.ref} {e.line.shown_text}: {mg(e.daily)}" for e in lines if e.daily is not None)
    source = next(m.source for m in ctx.kb.ingredients["acetaminophen"].max_daily_doses
                  if m.amount.value == ceiling)
    yield ctx.finding(spec, exposures=lines, drugs=["acetaminophen"],
                      summary=f"Acetaminophen {mg(total)}/day from all products: above {mg(ceiling)}/day",
                      detail=(f"Acetaminophen from every product counts toward one daily maximum of {mg(ceiling)}: "
                              f"{shares}. Above it, the risk of acute liver failure rises."),
                      citations=[source],
                      suggestions=[suggestion(f"Cut acetaminophen to at most {mg(ceiling)}/day from all products",
                                              "reduce_dose", drug="acetaminophen",
                                              maxDailyDose={"value": ceiling, "unit": "mg"})])


@rule("dose.not_computable")
def not_computable(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for exposure in ctx.exposures:
        has_limits = exposure.ingredient.max_daily_doses or exposure.ingredient.mme_factors or \
            any(b.max_daily_dose for b in exposure.ingredient.renal)
        given = exposure.line.dose is not None or exposure.line.max_daily_dose is not None
        if exposure.ordered and exposure.daily is None and given and has_limits and exposure.systemic:
            yield ctx.finding(spec, exposures=[exposure],
                              summary=f"{exposure.name} dose not checked: {exposure.not_computable}"[:139],
                              detail=(f"The daily amount of {exposure.name} on {exposure.line.ref} could not be "
                                      f"computed ({exposure.not_computable}), so its maxima and MME were not checked."))


# ------------------------------------------------------------------------------------------------------ opioid
def _baseline_mme(ctx: CheckContext) -> float:
    """MME/day of the current medications alone (before this order)."""
    return sum(mme_for(e) or 0.0 for e in ctx.all_exposures if e.line.current)


def _mme_lines(ctx: CheckContext) -> str:
    parts = []
    for exposure in ctx.exposures:
        mme = mme_for(exposure)
        if mme is not None:
            factor = next(f for f in exposure.ingredient.mme_factors if f.dose_unit == exposure.daily_unit)
            parts.append(f"- {exposure.line.ref} {exposure.name}: {exposure.daily:g} {exposure.daily_unit}/day "
                         f"x {factor.value:g} = {mme:.1f} MME")
    return "\n".join(parts)


def _opioid_exposures(ctx: CheckContext) -> list[Exposure]:
    return ctx.with_class("opioid")  # the systemic ones, in line order


def _naloxone_suggestions(ctx: CheckContext) -> list[dict]:
    return [] if ctx.with_class("opioid_antagonist") else [suggestion("Offer naloxone", "offer_naloxone",
                                                                      drug="naloxone")]


@rule("opioid.mme_90")
def mme_90(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    total, threshold = ctx.derived["mmePerDay"], spec.thresholds["mme_per_day"]
    if total < threshold:
        return
    baseline = _baseline_mme(ctx)
    rising = total > baseline + 0.05
    yield ctx.finding(spec, severity=spec.severity_for("increase" if rising else "unchanged"),
                      exposures=[e for e in _opioid_exposures(ctx) if mme_for(e)],
                      summary=f"{total:.0f} MME/day (>= {threshold:g})" + (
                          f", up from {baseline:.0f}" if rising and baseline else ""),
                      detail=(f"Total opioid dose {total:.1f} MME/day (CDC 2022 conversion factors):\n"
                              f"{_mme_lines(ctx)}\n\nAt {threshold:g} MME/day or more, overdose risk rises with "
                              "little added benefit; avoid raising the dose to this level, or justify it carefully."),
                      suggestions=[suggestion("Reduce the opioid dose, or document why the dose is needed",
                                              "reduce_dose")] + _naloxone_suggestions(ctx))


@rule("opioid.mme_50")
def mme_50(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    total, threshold = ctx.derived["mmePerDay"], spec.thresholds["mme_per_day"]
    ceiling = ctx.rulebook.rules["opioid.mme_90"].thresholds["mme_per_day"]
    if not threshold <= total < ceiling:
        return
    yield ctx.finding(spec, exposures=[e for e in _opioid_exposures(ctx) if mme_for(e)],
                      summary=f"{total:.0f} MME/day (>= {threshold:g}): reassess benefit and risk",
                      detail=(f"Total opioid dose {total:.1f} MME/day (CDC 2022 conversion factors):\n"
                              f"{_mme_lines(ctx)}\n\nAt {threshold:g} MME/day or more, reassess benefits and risks "
                              "before any increase and offer naloxone."),
                      suggestions=_naloxone_suggestions(ctx))


@rule("opioid.mme_incomplete")
def mme_incomplete(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    missing = [e for e in _opioid_exposures(ctx) if mme_for(e) is None]
    if not missing:
        return
    reasons = "; ".join(
        f"{e.line.ref} {e.name}: " + ("CDC 2022 gives no MME factor for buprenorphine (partial agonist)"
                                      if e.has("opioid_partial_agonist") else
                                      e.not_computable or f"no CDC 2022 factor for the {e.route} route")
        for e in missing)
    yield ctx.finding(spec, exposures=missing, summary=f"MME/day leaves out {names(missing)}",
                      detail=f"Not in the MME total: {reasons}.")


@rule("opioid.naloxone")
def naloxone(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    opioids = _opioid_exposures(ctx)
    if not opioids or ctx.with_class("opioid_antagonist"):
        return
    reasons = []
    if ctx.derived["mmePerDay"] >= spec.thresholds["mme_per_day"]:
        reasons.append(f"{ctx.derived['mmePerDay']:.0f} MME/day")
    if ctx.with_class("benzodiazepine"):
        reasons.append("a benzodiazepine")
    reasons += [words for condition, words in (("opioid_use_disorder", "opioid use disorder"),
                                               ("alcohol_use_disorder", "alcohol use disorder"),
                                               ("sleep_apnea", "sleep-disordered breathing"))
                if ctx.has_condition(condition)]
    if not reasons:
        return
    yield ctx.finding(spec, exposures=ctx.distinct_with_class("opioid"),
                      summary=f"Offer naloxone: {', '.join(reasons)}",
                      detail=(f"Overdose risk factors: {', '.join(reasons)}. CDC 2022 recommends offering naloxone "
                              "when such factors are present."),
                      suggestions=[suggestion("Prescribe naloxone nasal spray and teach its use", "offer_naloxone",
                                              drug="naloxone")])


@rule("opioid.er_la_acute")
def er_la_acute(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    current_opioids = {e.name for e in ctx.all_exposures if e.line.current and e.has("opioid")}
    continued = {line.ref for line in ctx.superseded}
    for exposure in _opioid_exposures(ctx):
        if not exposure.ordered or not exposure.extended_release:
            continue
        if ctx.patient.pain_type == "acute":
            case, why = "acute", "for acute pain"
        elif not current_opioids:
            case, why = "opioid_naive", "for a patient on no opioid"
        else:
            continue
        if case == "acute" and continued and exposure.name in current_opioids:
            continue  # a continuation of the patient's own ER/LA opioid, not a new start
        # The label's own contraindication (DURAGESIC 4: opioid non-tolerant patients) outranks CDC's advice
        tolerant_only = exposure.ingredient.opioid_tolerant_only
        if case == "opioid_naive" and tolerant_only and exposure.route in tolerant_only.routes:
            case = "not_opioid_tolerant"
        yield ctx.finding(spec, severity=spec.severity_for(case), exposures=[exposure],
                          summary=(f"{exposure.name} ({exposure.route}) {why}: contraindicated unless opioid-tolerant"
                                   if case == "not_opioid_tolerant" else
                                   f"ER/LA {exposure.name} {why}: start with immediate-release"),
                          detail=("Extended-release and long-acting opioids (ER tablets and capsules, transdermal "
                                  "fentanyl, methadone) carry a higher overdose risk when started; CDC 2022 "
                                  "recommends immediate-release opioids when starting opioid therapy."
                                  + (f" {tolerant_only.note}" if case == "not_opioid_tolerant" else "")),
                          citations=[tolerant_only.source] if case == "not_opioid_tolerant" else [],
                          suggestions=[suggestion(f"Use an immediate-release opioid instead of ER/LA {exposure.name}",
                                                  "substitute", drug=exposure.name, line=exposure.line.ref)])


@rule("opioid.acute_duration")
def acute_duration(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if ctx.patient.pain_type != "acute":
        return
    longest = spec.thresholds["max_days"]
    for exposure in ctx.distinct_with_class("opioid"):
        days = exposure.line.duration_days
        if exposure.ordered and days is not None and days > longest:
            yield ctx.finding(spec, exposures=[exposure],
                              summary=f"{exposure.name} for {days} days of acute pain (> {longest:g})",
                              detail=(f"{exposure.name} is ordered for {days} days for acute pain; prescribe no more "
                                      "than the expected duration of pain severe enough to need an opioid."),
                              suggestions=[suggestion(f"Limit the supply to the expected duration "
                                                      f"(at most {longest:g} days)", "reduce_dose",
                                                      drug=exposure.name, line=exposure.line.ref,
                                                      durationDays=int(longest))])
