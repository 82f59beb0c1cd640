"""Kidney and liver: drugs to avoid, doses to cut, by the bands and facts in drugdata/."""
from __future__ import annotations

from collections.abc import Iterator

from ..context import CheckContext, Exposure, rule
from ..knowledge import HepaticFact, RenalBand
from ..model import Finding
from ..rulebook import Rule
from .common import amount_text, applies, mg, names, suggestion, unverified_note

_ACTION_ORDER = {"avoid": 0, "reduce": 1, "caution": 2}
_CHILD_PUGH = {"A": 1, "B": 2, "C": 3}


def _starts(ctx: CheckContext, exposure: Exposure) -> bool:
    """Whether this line starts the drug: ordered now, and no current medication line of the same ingredient, route and
    release. A regimen line like a current one is a continuation or a dose change (contract 2.1), a dose increase
    included; a switch from immediate to extended release starts the ER product, whose label's starting dose is
    written for patients on prior opioids too (OPANA ER 2.5, 2.6)."""
    return exposure.ordered and not any(
        other.line.current and other.name == exposure.name and other.route == exposure.route
        and other.extended_release == exposure.extended_release for other in ctx.all_exposures)


def _in_force(fact: RenalBand | HepaticFact, ctx: CheckContext, exposure: Exposure) -> bool:
    """A band or fact written for this route and release, and, if it is a starting-dose statement, for a new start."""
    return applies(fact, exposure) and (fact.applies_to != "initiation" or _starts(ctx, exposure))


def _renal_words(ctx: CheckContext) -> str:
    basis = ctx.derived.get("renalBasis")
    crcl = ctx.crcl
    if basis == "dialysis":
        return "on dialysis"
    label = {"cockcroft-gault": "CrCl", "crcl": "CrCl", "egfr": "eGFR"}[basis]
    return f"{label} {round(crcl, 1):g} mL/min"  # 29.6 stays 29.6: rounding must not cross a threshold


def _basis_detail(ctx: CheckContext) -> str:
    basis = ctx.derived.get("renalBasis")
    inputs = ctx.derived.get("renalInputs")
    if basis == "cockcroft-gault" and inputs:
        return (f"CrCl {ctx.crcl:.1f} mL/min by Cockcroft-Gault with actual body weight: (140 - {inputs['ageYears']}"
                f") x {inputs['weightKg']} kg / (72 x {inputs['serumCreatinineMgDl']} mg/dL)"
                f"{' x 0.85 (female)' if inputs['sex'] == 'female' else ''}.")
    if basis == "crcl":
        return f"CrCl {ctx.crcl:.1f} mL/min as given."
    if basis == "egfr":
        return (f"eGFR {ctx.crcl:.1f} mL/min/1.73 m² used in place of CrCl (no creatinine with weight, age and sex "
                "was given); drug labels and Beers Table 6 are written for Cockcroft-Gault CrCl.")
    return "The patient is on dialysis: dialysis bands apply, and CrCl bands are read as end-stage kidney disease."


def _covering_bands(ctx: CheckContext, exposure: Exposure) -> list[RenalBand]:
    on_dialysis = ctx.has_condition("dialysis")
    bands = [b for b in exposure.ingredient.renal if _in_force(b, ctx, exposure)]
    if on_dialysis:
        dialysis_bands = [b for b in bands if b.dialysis]
        if dialysis_bands:
            return dialysis_bands
        return [b for b in bands if not b.dialysis and b.covers(0.0, False)]  # dialysis means end-stage kidneys
    return [b for b in bands if b.covers(ctx.crcl, False)]


@rule("renal.band")
def renal_band(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    on_dialysis = ctx.has_condition("dialysis")
    if ctx.crcl is None and not on_dialysis:
        return
    # the patient's kidney function in words: the same for every drug (and known here: a CrCl, or dialysis)
    where, detail_head = _renal_words(ctx), f"{_basis_detail(ctx)}\n\n"
    for exposure in ctx.distinct_systemic():
        covering = _covering_bands(ctx, exposure)
        if not covering:
            continue
        action = min((b.action for b in covering), key=_ACTION_ORDER.get)
        bands = [b for b in covering if b.action == action]
        group = "nsaid" if exposure.has("nsaid") else exposure.name.replace(" ", "_")
        if action == "reduce":
            limits = [b.max_daily_dose for b in bands if b.max_daily_dose and b.max_daily_dose.unit == "mg"]
            total, complete = ctx.total_daily(exposure.name)
            interval = max((b.min_interval_hours for b in bands if b.min_interval_hours), default=None)
            frequency = exposure.line.frequency
            too_often = bool(interval and frequency and frequency.times_per_day > 24 / interval + 1e-9)
            if limits:
                ceiling = min(limit.value for limit in limits)
                if complete and total <= ceiling and not too_often:
                    continue  # already at or below the reduced maximum, as often as allowed: nothing to act on
                dose_words = f"{mg(total)}/day ordered" if complete else "dose not computable"
                summary = f"Reduce {exposure.name}: {where}, max {mg(ceiling)}/day ({dose_words})"
                if too_often and complete and total <= ceiling:
                    summary = f"Space {exposure.name} to every {interval:g} h: {where} ({frequency.label} ordered)"
                fix = [suggestion(f"Reduce {exposure.name} to at most {mg(ceiling)}/day"
                                  + (f", every {interval:g} hours" if interval else ""), "reduce_dose",
                                  drug=exposure.name, line=exposure.line.ref,
                                  maxDailyDose={"value": ceiling, "unit": "mg"})]
            else:
                summary = f"Reduce {exposure.name} dose for kidney function: {where}"
                fix = [suggestion(f"Reduce the {exposure.name} dose as its label directs for {where}",
                                  "reduce_dose", drug=exposure.name, line=exposure.line.ref)]
        elif action == "avoid":
            edges = "; ".join(dict.fromkeys(b.label for b in bands))  # the band that fired, as drugdata writes it
            summary = f"Avoid {exposure.name}: {where}" + (f" (band: {edges})" if ctx.crcl is not None
                                                            and not on_dialysis else "")
            fix = [_alternative(ctx, exposure)]
        else:
            summary = f"Use {exposure.name} with caution: {where}"
            fix = []
        notes = "\n".join(f"- {b.label}: {b.note or b.action} ({b.source.text}){unverified_note(b)}" for b in bands)
        yield ctx.finding(spec, code=f"renal.{group}.{action}", severity=spec.severity_for(action),
                          exposures=[exposure], summary=summary, detail=detail_head + notes,
                          citations=[b.source for b in bands], suggestions=fix)


def _alternative(ctx: CheckContext, exposure: Exposure) -> dict:
    if exposure.has("nsaid"):
        remaining = ctx.derived.get("acetaminophenRemainingMgPerDay")
        ceiling = ctx.derived.get("acetaminophenMaxMgPerDay")
        extra = f" (max {mg(ceiling)}/day from all products; {mg(remaining)} left today)" if ceiling else ""
        return suggestion(f"Use acetaminophen instead of {exposure.name}{extra}, or a topical NSAID for local pain",
                          "substitute", drug=exposure.name, line=exposure.line.ref, substitute="acetaminophen")
    return suggestion(f"Stop {exposure.name} and choose an agent not cleared by the kidneys", "stop",
                      drug=exposure.name, line=exposure.line.ref)


@rule("renal.value_missing")
def renal_value_missing(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if ctx.crcl is not None or ctx.has_condition("dialysis"):
        return
    unchecked = [e for e in ctx.distinct_systemic() if any(_in_force(b, ctx, e) for b in e.ingredient.renal)]
    if not unchecked:
        return
    listed = ", ".join(e.name for e in unchecked)
    yield ctx.finding(spec, exposures=unchecked, summary=f"Kidney function not given: renal dosing of {listed} "
                      "not checked"[:139],
                      detail=("No CrCl, eGFR, or serum creatinine with weight, age and sex was given, so the renal "
                              f"limits of {listed} could not be applied. Give a creatinine (mg/dL or µmol/L) with "
                              "weight, or an eGFR or CrCl, to check them."))


# -------------------------------------------------------------------------------------------------- hepatic
def _liver_disease(ctx: CheckContext) -> bool:
    return ctx.has_condition("hepatic_impairment", "cirrhosis")


@rule("hepatic.band")
def hepatic_band(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not _liver_disease(ctx):
        return
    known_class = ctx.patient.child_pugh_class
    for exposure in ctx.distinct_systemic():
        facts = [f for f in exposure.ingredient.hepatic if _in_force(f, ctx, exposure)]  # ER-only stay ER-only
        if not facts:
            continue
        if known_class:
            fitting = [f for f in facts if f.severity_class == "any"
                       or _CHILD_PUGH[f.severity_class] <= _CHILD_PUGH[known_class]]
        else:
            fitting = list(facts)
        if not fitting:
            continue
        worst = min(fitting, key=lambda f: _ACTION_ORDER[f.action])
        class_words = f"Child-Pugh {known_class}" if known_class else "severity not given"
        certain = [f for f in fitting if f.severity_class == "any"]
        if not known_class and worst.severity_class != "any" and certain:
            # What the label says for every degree of impairment decides; its word for severe impairment is said
            # as a condition. Acetaminophen: caution in hepatic impairment, contraindicated only when severe, so an
            # unknown-severity cirrhosis does not push a prescriber from acetaminophen to an NSAID or an opioid.
            lead = min(certain, key=lambda f: _ACTION_ORDER[f.action])
            severity = spec.severity_for(lead.action)
            scope = f"; {worst.action} if Child-Pugh {worst.severity_class}"
        else:
            lead = worst
            severity = spec.severity_for(worst.action)
            if not known_class and worst.severity_class != "any" and severity == "critical":
                severity = "warning"  # "avoid if severe": the severity is unknown, so assess rather than forbid
            scope = "" if worst.severity_class == "any" or known_class else \
                f" if Child-Pugh {worst.severity_class}"
        verb = {"avoid": "Avoid", "reduce": "Reduce", "caution": "Caution with"}[lead.action]
        detail = "\n".join(f"- Child-Pugh {f.severity_class if f.severity_class != 'any' else 'any class'}: "
                           f"{f.action}: {f.note or ''} ({f.source.text}){unverified_note(f)}" for f in fitting)
        yield ctx.finding(spec, code=f"hepatic.{exposure.name.replace(' ', '_')}.{lead.action}", severity=severity,
                          exposures=[exposure],
                          summary=f"{verb} {exposure.name}{scope}: liver disease ({class_words})"
                          if lead is worst else f"{verb} {exposure.name}: liver disease ({class_words}){scope}",
                          detail=f"The patient has liver disease ({class_words}).\n\n{detail}",
                          citations=[f.source for f in fitting],
                          suggestions=[suggestion(f"{verb} {exposure.name} as its label directs in hepatic "
                                                  "impairment", "reduce_dose" if lead.action == "reduce" else
                                                  "review", drug=exposure.name, line=exposure.line.ref)])


@rule("hepatic.max_dose")
def hepatic_max_dose(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    if not _liver_disease(ctx):
        return
    for exposure in ctx.distinct_systemic():
        limits = [m for m in exposure.ingredient.max_daily_doses if m.population == "hepatic"
                  and m.amount.unit == "mg" and applies(m, exposure)]
        if not limits:
            continue
        limit = min(limits, key=lambda m: m.amount.value)
        total, complete = ctx.total_daily(exposure.name)
        if not complete or total <= limit.amount.value:
            continue
        yield ctx.finding(spec, exposures=[exposure], severity=limit.severity or spec.severity_for(),
                          summary=f"{exposure.name} {mg(total)}/day is above the liver-disease maximum "
                                  f"{amount_text(limit.amount)}/day",
                          detail=f"With hepatic impairment the maximum is {amount_text(limit.amount)}/day "
                                 f"({limit.note or limit.source.locator}).",
                          citations=[limit.source],
                          suggestions=[suggestion(f"Reduce {exposure.name} to {amount_text(limit.amount)}/day",
                                                  "reduce_dose", drug=exposure.name, line=exposure.line.ref,
                                                  maxDailyDose={"value": limit.amount.value, "unit": "mg"})])



# ------------------------------------------------------------------------------------ NSAID + RAS blocker
@rule("renal.nsaid_ras")
def nsaid_ras(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    """An NSAID with an ACE inhibitor or ARB in the patients the NSAID and ACE-inhibitor labels name: on a diuretic
    (volume depletion; the "triple whammy") a warning, elderly or with impaired kidneys a note."""
    nsaids = ctx.distinct_with_class("nsaid")
    blockers = ctx.distinct(ctx.with_class("ace_inhibitor") + ctx.with_class("arb"))
    if not nsaids or not blockers:
        return
    diuretics = ctx.distinct_with_class("diuretic")
    risks = []
    if ctx.aged(spec.thresholds["min_age"]):
        risks.append(f"age {ctx.age}")
    if (ctx.crcl is not None and ctx.crcl < spec.thresholds["crcl_below"]) or ctx.has_condition("ckd", "dialysis"):
        risks.append(_renal_words(ctx) if ctx.crcl is not None else "chronic kidney disease")
    if not diuretics and not risks:
        return
    involved = nsaids + blockers + diuretics
    if diuretics:
        summary = f"NSAID + ACE inhibitor/ARB + diuretic: {names(involved)} (acute kidney injury risk)"
    else:
        summary = f"{names(nsaids)} with {names(blockers)}: kidney function may worsen ({', '.join(risks)})"
    yield ctx.finding(spec, severity=spec.severity_for("with_diuretic" if diuretics else "at_risk"), exposures=involved,
                      summary=summary,
                      detail=("In patients who are elderly, volume-depleted (including those on diuretic therapy) "
                              "or have renal impairment, an NSAID with an ACE inhibitor or ARB may result in "
                              "deterioration of renal function, including possible acute renal failure (usually "
                              "reversible); the NSAID also blunts their effect on blood pressure. "
                              + (f"A diuretic ({names(diuretics)}) is on the list. " if diuretics else "")
                              + (f"Risk factors here: {', '.join(risks)}. " if risks else "")
                              + "If the NSAID is needed: keep the patient hydrated, check kidney function at the start "
                                "and periodically, and watch blood pressure."),
                      suggestions=[suggestion(f"Use acetaminophen or a topical NSAID instead of {nsaids[0].name}",
                                              "substitute", drug=nsaids[0].name, line=nsaids[0].line.ref,
                                              substitute="acetaminophen"),
                                   suggestion("Check serum creatinine and potassium within a week", "monitor")])
