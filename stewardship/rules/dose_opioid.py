"""Doses and opioid stewardship: maxima (acetaminophen from all products), MME/day, ER/LA, naloxone, duration."""
from __future__ import annotations

from collections.abc import Iterator

from ..engine import CheckContext, Exposure, mme_for, rule
from ..knowledge import MaxDailyDose
from ..model import Finding
from ..rulebook import Rule
from .common import amount_text, applies, mg, names, suggestion


def _limits(exposure: Exposure, population: str) -> list[MaxDailyDose]:
    return [m for m in exposure.ingredient.max_daily_doses
            if m.population == population and m.amount.unit == "mg" and applies(m, exposure)]


def _total_for(ctx: CheckContext, limit: MaxDailyDose, name: str) -> tuple[float, bool]:
    counted = [e for e in ctx.exposures if e.name == name and applies(limit, e)]
    total = sum(e.daily for e in counted if e.daily is not None and e.daily_unit == "mg")
    return total, all(e.daily is not None and e.daily_unit == "mg" for e in counted)


def _over_limit(ctx: CheckContext, spec: Rule, population: str, words: str) -> Iterator[Finding]:
    for exposure in ctx.distinct(ctx.systemic()):
        if exposure.name == "acetaminophen":
            continue  # dose.acetaminophen_total counts every product together
        for limit in _limits(exposure, population):
            if population == "older_adult" and (ctx.age is None or ctx.age < (limit.min_age or 65)):
                continue
            total, _ = _total_for(ctx, limit, exposure.name)
            if total <= limit.amount.value:
                continue
            who = f" at age {ctx.age}" if population == "older_adult" else ""
            yield ctx.finding(spec, exposures=[e for e in ctx.exposures if e.name == exposure.name],
                              summary=f"{exposure.name} {mg(total)}/day is above the {words}maximum "
                                      f"{amount_text(limit.amount)}/day{who}",
                              detail=(f"{exposure.name} comes to {mg(total)}/day ({exposure.route}"
                                      f"{', ' + limit.release + ' release' if limit.release != 'any' else ''}); "
                                      f"the {words}maximum is {amount_text(limit.amount)}/day"
                                      f"{' from age ' + str(limit.min_age) if limit.min_age else ''}"
                                      f"{': ' + limit.note if limit.note else ''}."),
                              citations=[limit.source],
                              suggestions=[suggestion(f"Reduce {exposure.name} to at most "
                                                      f"{amount_text(limit.amount)}/day", "reduce_dose",
                                                      drug=exposure.name, line=exposure.line.ref,
                                                      maxDailyDose={"value": limit.amount.value, "unit": "mg"})])
            break


@rule("dose.max_daily")
def max_daily(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _over_limit(ctx, spec, "general", "")


@rule("dose.older_adult_max")
def older_adult_max(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _over_limit(ctx, spec, "older_adult", "older-adult ")


@rule("dose.acetaminophen_total")
def acetaminophen_total(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    total, ceiling = ctx.derived["acetaminophenMgPerDay"], ctx.derived["acetaminophenMaxMgPerDay"]
    if ceiling is None or total <= ceiling:
        return
    lines = [e for e in ctx.exposures if e.name == "acetaminophen"]
    shares = "; ".join(f"{e.line.ref} {e.line.input_text}: {mg(e.daily)}" for e in lines if e.daily is not None)
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
    return [e for e in ctx.exposures if e.has("opioid") and e.systemic]


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
                                               ("alcohol_use_disorder", "alcohol use disorder"))
                if ctx.has_condition(condition)]
    if not reasons:
        return
    yield ctx.finding(spec, exposures=ctx.distinct(opioids),
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
        yield ctx.finding(spec, severity=spec.severity_for(case), exposures=[exposure],
                          summary=f"ER/LA {exposure.name} {why}: start with immediate-release",
                          detail=("Extended-release and long-acting opioids (ER tablets and capsules, transdermal "
                                  "fentanyl, methadone) carry a higher overdose risk when started; CDC 2022 "
                                  "recommends immediate-release opioids when starting opioid therapy."),
                          suggestions=[suggestion(f"Use an immediate-release opioid instead of ER/LA {exposure.name}",
                                                  "substitute", drug=exposure.name, line=exposure.line.ref)])


@rule("opioid.acute_duration")
def acute_duration(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if ctx.patient.pain_type != "acute":
        return
    longest = spec.thresholds["max_days"]
    for exposure in ctx.distinct(_opioid_exposures(ctx)):
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
