"""Stacked effects on the brain and the gut: sedation, constipation, anticholinergic load, serotonin, QT."""
from __future__ import annotations

from collections.abc import Iterator

from ..context import CheckContext, Exposure, rule
from ..model import Finding
from ..rulebook import Rule
from .common import course_reaches, names, suggestion

_OPIOID_PAIRS = {  # rule key -> the class that, with an opioid, makes the pair
    "sedation.opioid_benzodiazepine": "benzodiazepine",
    "sedation.opioid_gabapentinoid": "gabapentinoid",
    "sedation.opioid_muscle_relaxant": "skeletal_muscle_relaxant",
}


def _opioids(ctx: CheckContext) -> list[Exposure]:
    return ctx.distinct_with_class("opioid")


def _naloxone_fix(ctx: CheckContext) -> list[dict]:
    if ctx.with_class("opioid_antagonist"):
        return []
    return [suggestion("Offer naloxone", "offer_naloxone", drug="naloxone")]


def _laxative() -> dict:
    return suggestion("Add a laxative: polyethylene glycol 3350 (or senna)", "add_drug",
                      drug="polyethylene glycol 3350")


def _triple(ctx: CheckContext) -> bool:
    return bool(_opioids(ctx) and ctx.with_class("benzodiazepine") and ctx.with_class("skeletal_muscle_relaxant"))


@rule("sedation.triple_threat")
def triple_threat(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not _triple(ctx):
        return
    involved = _opioids(ctx) + ctx.distinct_with_class("benzodiazepine") + \
        ctx.distinct_with_class("skeletal_muscle_relaxant")
    yield ctx.finding(spec, exposures=involved,
                      summary=f"Opioid + benzodiazepine + muscle relaxant: {names(involved)}",
                      detail=("The \"triple threat\": an opioid with a benzodiazepine and a skeletal muscle relaxant "
                              "stacks CNS and respiratory depression; the opioid-benzodiazepine pair alone carries a "
                              "boxed warning for profound sedation, respiratory depression, coma and death."),
                      suggestions=[suggestion("Stop the benzodiazepine or the muscle relaxant", "stop")]
                      + _naloxone_fix(ctx))


def _opioid_pair(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    klass = _OPIOID_PAIRS[spec.key]
    opioids, partners = _opioids(ctx), ctx.distinct_with_class(klass)
    if not opioids or not partners:
        return
    if klass != "gabapentinoid" and _triple(ctx):
        return  # the triple-threat finding already names these drugs
    if klass == "skeletal_muscle_relaxant" and ctx.with_class("benzodiazepine"):
        return
    words = {"benzodiazepine": "a benzodiazepine", "gabapentinoid": "a gabapentinoid",
             "skeletal_muscle_relaxant": "a muscle relaxant"}[klass]
    details = {
        "benzodiazepine": ("Opioids with benzodiazepines cause profound sedation, respiratory depression, coma and "
                           "death (FDA boxed warning). Avoid the combination; if both are needed, use the lowest "
                           "doses, taper the benzodiazepine where possible and offer naloxone."),
        "gabapentinoid": ("Gabapentin and pregabalin add CNS and respiratory depression to opioids (FDA 2019); "
                          "AGS Beers 2023 says avoid the combination except when moving from the opioid to the "
                          "gabapentinoid or using it to reduce the opioid dose."),
        "skeletal_muscle_relaxant": ("Skeletal muscle relaxants add CNS depression to opioids; keep the muscle "
                                     "relaxant to a short course at the lowest dose."),
    }
    yield ctx.finding(spec, exposures=opioids + partners,
                      summary=f"Opioid with {words}: {names(opioids + partners)}",
                      detail=details[klass],
                      suggestions=[suggestion(f"Avoid the combination, or use the lowest doses of {names(partners)}",
                                              "review")] + _naloxone_fix(ctx))


for _key in _OPIOID_PAIRS:
    rule(_key)(_opioid_pair)


@rule("sedation.cns_active_3plus")
def cns_active_3plus(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not ctx.aged(spec.thresholds["min_age"]):
        return
    active = [e for e in ctx.distinct_systemic() if e.grade("cns_active")]
    if len(active) < spec.thresholds["min_drugs"]:
        return
    yield ctx.finding(spec, exposures=active,
                      summary=f"{len(active)} CNS-active drugs at age {ctx.age}: {names(active)}",
                      detail=(f"AGS Beers 2023 (Table 5): avoid a total of three or more CNS-active drugs in older "
                              f"adults (falls and fractures); this list has {len(active)}: {names(active)}."),
                      suggestions=[suggestion("Reduce the number of CNS-active drugs", "review")])


@rule("sedation.respiratory_condition")
def respiratory_condition(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    conditions = [c for c in ("sleep_apnea", "copd") if ctx.has_condition(c)]
    if not conditions:
        return
    depressants = ctx.distinct(ctx.with_class("opioid") + ctx.with_class("benzodiazepine")
                               + ctx.with_class("gabapentinoid"))
    if not depressants:
        return
    words = " and ".join({"sleep_apnea": "sleep apnea", "copd": "COPD"}[c] for c in conditions)
    yield ctx.finding(spec, exposures=depressants,
                      summary=f"Respiratory depression risk: {names(depressants)} with {words}",
                      detail=(f"{words.capitalize()} raises the risk of respiratory depression from "
                              f"{names(depressants)}; use the lowest effective dose, avoid combining depressants"
                              + (", and offer naloxone." if _opioids(ctx) else ".")),
                      suggestions=_naloxone_fix(ctx) if _opioids(ctx) else [])


def _agents(exposures: list[Exposure]) -> int:
    """How many different drugs stack an effect. Several opioids count as one: together they are one opioid dose,
    which the MME rules measure and judge (CDC 2022 Recommendation 4), and two immediate-release opioids are a
    duplication finding; an ER/LA opioid with an immediate-release one for breakthrough pain is not two sedating or
    constipating drugs."""
    return len([e for e in exposures if not e.has("opioid")]) + any(e.has("opioid") for e in exposures)


def _named_by_other_sedation_rules(ctx: CheckContext) -> set[str]:
    named: set[str] = set()
    opioids = _opioids(ctx)
    if opioids:
        for klass in _OPIOID_PAIRS.values():
            partners = ctx.with_class(klass)
            if partners:
                named |= {e.name for e in opioids + partners}
    return named


@rule("sedation.stacked")
def stacked_sedation(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    sedating = [e for e in ctx.distinct_systemic() if e.grade("sedation") >= spec.thresholds["min_grade"]]
    if _agents(sedating) < spec.thresholds["min_drugs"]:
        return
    named = _named_by_other_sedation_rules(ctx)
    if all(e.name in named for e in sedating):
        return
    total = sum(e.grade("sedation") for e in sedating)
    yield ctx.finding(spec, exposures=sedating,
                      summary=f"Sedation stacks up: {names(sedating)} (burden {total})",
                      detail=("Each of these drugs is sedating on its own (grade 2 or more on a 0-3 scale); "
                              "together they add up: " + ", ".join(f"{e.name} {e.grade('sedation')}"
                                                                   for e in sedating) + "."),
                      suggestions=[suggestion("Drop one sedating drug or lower the doses", "review")])


# ------------------------------------------------------------------------------------------------ constipation
def _laxatives(ctx: CheckContext) -> list[Exposure]:
    """The laxatives that make a bowel regimen: a stool softener alone does not (CDC 2022, Recommendations 1 and 2:
    "Stool softeners or fiber laxatives without another laxative should be avoided")."""
    return [e for e in ctx.with_class("bowel_regimen") if not e.has("stool_softener")]


def _bowel_regimen_case(ctx: CheckContext, spec: Rule, opioids: list[Exposure]) -> str | None:
    """How strongly CDC 2022 asks for a bowel regimen here: in older adults always (Recommendation 8), at any age
    when the opioid is taken regularly (Recommendation 2: "usually needed"), and when it is used for more than a
    few days (Recommendation 1: "might be needed"); a course of a few days or less in a younger adult is quiet."""
    few_days = spec.thresholds["few_days"]
    short = all(e.line.duration_days is not None and e.line.duration_days <= few_days for e in opioids)
    if ctx.aged(spec.thresholds["min_age"]):
        return "short_course" if short else "older_adult"
    # taken regularly: scheduled (not as needed) with no end given, or for the regular-use days or more
    if any(not e.line.prn and (e.line.duration_days is None
                               or course_reaches(ctx, e, spec.thresholds["regular_use_days"]))
           for e in opioids):
        return "regular_use"
    return None if short else "beyond_few_days"


@rule("constipation.opioid_without_bowel_regimen")
def opioid_without_bowel_regimen(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    opioids = [e for e in _opioids(ctx) if e.grade("constipation") >= 2]
    if not opioids or _laxatives(ctx):
        return
    case = _bowel_regimen_case(ctx, spec, opioids)
    if case is None:
        return
    softeners = ctx.with_class("stool_softener")
    yield ctx.finding(spec, severity=spec.severity_for(case), exposures=opioids,
                      summary=f"{names(opioids)} without a bowel regimen",
                      detail=("Opioids cause constipation that does not wane with time; start a laxative with the "
                              "opioid (a stimulant such as senna, or polyethylene glycol 3350)."
                              + (f" {names(softeners)} alone is not enough: a stool softener without another "
                                 "laxative should be avoided." if softeners else "")),
                      sources=spec.sources_for(case) + (spec.sources_for("stool_softener_alone") if softeners else ()),
                      suggestions=[_laxative()])


@rule("constipation.stacked")
def stacked_constipation(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    constipating = [e for e in ctx.distinct_systemic() if e.grade("constipation") >= spec.thresholds["min_grade"]]
    chronic = ctx.has_condition("chronic_constipation")
    if _agents(constipating) < spec.thresholds["min_drugs"] and not (chronic and constipating):
        return
    total = sum(e.grade("constipation") for e in constipating)
    reason = " with chronic constipation" if chronic else ""
    has_regimen = bool(_laxatives(ctx))
    older = ctx.aged(spec.thresholds["min_age"])  # whom its sources speak of
    yield ctx.finding(spec, severity=spec.severity_for("older_adult" if older else "younger"), exposures=constipating,
                      summary=f"Constipation burden {total}{reason}: {names(constipating)}",
                      detail=("Constipating effects add up: " + ", ".join(f"{e.name} {e.grade('constipation')}"
                                                                       for e in constipating)
                              + (". A bowel regimen is on the list; review that it is enough." if has_regimen
                                 else ". No bowel regimen is on the list.")),
                      suggestions=[] if has_regimen else [_laxative()])


# --------------------------------------------------------------------------------------------- anticholinergic
@rule("anticholinergic.acb_total")
def acb_total(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    carriers = [e for e in ctx.distinct_systemic() if e.grade("anticholinergic")]
    total = sum(e.grade("anticholinergic") for e in carriers)
    if total < spec.thresholds["min_total"]:
        return
    vulnerable = ctx.aged(spec.thresholds["min_age"]) or ctx.has_condition("dementia")
    heaviest = max(carriers, key=lambda e: e.grade("anticholinergic"))
    who = "in an older adult or a patient with dementia" if vulnerable else "(the evidence is strongest in older adults)"
    yield ctx.finding(spec, severity=spec.severity_for("older_adult" if vulnerable else "younger"), exposures=carriers,
                      summary=f"Anticholinergic burden ACB {total}: {names(carriers)}",
                      detail=("ACB scores: " + ", ".join(f"{e.name} {e.grade('anticholinergic')}" for e in carriers)
                              + f". A total of {spec.thresholds['min_total']:g} or more is linked to cognitive "
                              f"impairment and falls {who}."),
                      suggestions=[suggestion(f"Replace {heaviest.name}, which carries the most anticholinergic load",
                                              "substitute", drug=heaviest.name, line=heaviest.line.ref)])


# ------------------------------------------------------------------------------------------------ serotonergic
@rule("serotonergic.combination")
def serotonergic_combination(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    serotonergic = [e for e in ctx.distinct_systemic() if e.grade("serotonergic")]
    strong = [e for e in serotonergic if e.grade("serotonergic") >= 2]
    if len(serotonergic) < 2 or not strong:
        return
    case = "strong" if len(strong) >= 2 else "weak"
    yield ctx.finding(spec, severity=spec.severity_for(case), exposures=serotonergic,
                      summary=f"Serotonin syndrome risk: {names(serotonergic)}",
                      detail=("Serotonergic drugs together can cause serotonin syndrome (agitation, tremor, clonus, "
                              "hyperthermia), most often at start or dose increase."),
                      suggestions=[suggestion("Avoid the combination where an alternative exists; if used, watch "
                                              "for serotonin syndrome", "monitor")])


# ---------------------------------------------------------------------------------------------------------- qt
@rule("qt.combination")
def qt_combination(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    qt = [e for e in ctx.distinct_systemic() if e.grade("qt")]
    if len(qt) < 2 or not any(e.grade("qt") >= 3 for e in qt):
        return
    yield ctx.finding(spec, exposures=qt, summary=f"QT prolongation: {names(qt)} together",
                      detail=("QT risk (CredibleMeds tier): " + ", ".join(
                          f"{e.name} {({3: 'known', 2: 'possible', 1: 'conditional'})[e.grade('qt')]}" for e in qt)
                          + ". Get an ECG and check potassium and magnesium, or choose a drug without QT risk."),
                      suggestions=[suggestion("Get a baseline ECG", "monitor")])


@rule("qt.long_qt")
def qt_long_qt(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not ctx.has_condition("long_qt"):
        return
    for exposure in ctx.distinct_systemic():
        grade = exposure.grade("qt")
        if grade < 2:
            continue
        tier = "known" if grade >= 3 else "possible"
        yield ctx.finding(spec, severity=spec.severity_for(tier), exposures=[exposure],
                          summary=f"{exposure.name} ({tier} QT risk) with long QT",
                          detail=(f"{exposure.name} has a {tier} risk of torsades de pointes; the patient has a long "
                                  "QT interval. Avoid, or get an ECG before and during treatment."),
                          suggestions=[suggestion(f"Choose an alternative to {exposure.name}", "substitute",
                                                  drug=exposure.name, line=exposure.line.ref)])
