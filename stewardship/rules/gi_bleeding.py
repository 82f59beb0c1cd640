"""The gut and the blood: NSAIDs with ulcer history, steroids, SSRIs/SNRIs or old age; antithrombotic stacks."""
from __future__ import annotations

from collections.abc import Iterator

from ..context import CheckContext, Exposure, rule
from ..model import Finding
from ..rulebook import Rule
from .common import gastroprotected, mg, names, suggestion


def _nsaids(ctx: CheckContext) -> list[Exposure]:
    return ctx.distinct_with_class("nsaid")


def _add_ppi() -> dict:
    return suggestion("Add a proton-pump inhibitor (e.g. omeprazole) while the NSAID is taken", "add_drug",
                      drug="omeprazole")


def _instead_of_nsaid(nsaid: Exposure) -> dict:
    return suggestion(f"Use acetaminophen or a topical NSAID instead of {nsaid.name}", "substitute",
                      drug=nsaid.name, line=nsaid.line.ref, substitute="acetaminophen")


def _nsaid_with(ctx: CheckContext, spec: Rule, partners: list[Exposure], what: str) -> Iterator[Finding]:
    """An NSAID combined with a class that raises its GI bleeding risk, graded by gastroprotection."""
    nsaids = _nsaids(ctx)
    partners = ctx.distinct(partners)
    if not nsaids or not partners:
        return
    protected = gastroprotected(ctx)
    case = "protected" if protected else "unprotected"
    involved = nsaids + partners
    protection = "gastroprotected" if protected else "no PPI"
    on_list = "Gastroprotection (a PPI or misoprostol) is on the list." if protected else \
        "No PPI or misoprostol is on the list."
    yield ctx.finding(spec, severity=spec.severity_for(case), exposures=involved,
                      summary=f"GI bleeding risk: {names(nsaids)} with {what} {names(partners)} ({protection})",
                      detail=(f"{names(nsaids)} with {names(partners)} raises the risk of GI ulcer and bleeding "
                              f"beyond either drug alone. {on_list}"),
                      suggestions=[] if protected else [_add_ppi(), _instead_of_nsaid(nsaids[0])])


@rule("gi.nsaid_ulcer_history")
def nsaid_ulcer_history(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    nsaids = _nsaids(ctx)
    if not nsaids or not ctx.has_condition("peptic_ulcer", "gi_bleed"):
        return
    history = " and ".join(c.replace("_", " ") for c in ("peptic_ulcer", "gi_bleed") if ctx.has_condition(c))
    protected = gastroprotected(ctx)
    yield ctx.finding(spec, severity=spec.severity_for("protected" if protected else "unprotected"),
                      exposures=nsaids,
                      summary=f"Avoid {names(nsaids)}: history of {history}"
                              f"{'' if protected else ', no gastroprotection'}",
                      detail=(f"The patient has a history of {history}. AGS Beers 2023 (Table 3): avoid NSAIDs "
                              "unless other alternatives are not effective and the patient can take a "
                              "gastroprotective agent (PPI or misoprostol). "
                              + ("Gastroprotection (a PPI or misoprostol) is on the list." if protected
                                 else "No PPI or misoprostol is on the list.")),
                      suggestions=[_instead_of_nsaid(nsaids[0])] + ([] if protected else [_add_ppi()]))


@rule("gi.nsaid_corticosteroid")
def nsaid_corticosteroid(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _nsaid_with(ctx, spec, ctx.with_class("corticosteroid"), "corticosteroid")


@rule("gi.nsaid_ssri_snri")
def nsaid_ssri_snri(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    yield from _nsaid_with(ctx, spec, ctx.with_class("ssri") + ctx.with_class("snri"), "SSRI/SNRI")


@rule("gi.nsaid_older_adult")
def nsaid_older_adult(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    # The Beers 2023 Table 2 statement this rests on names non-COX-selective oral NSAIDs only: celecoxib is not on
    # it (its Beers criteria are heart failure, Table 3, and CrCl < 30, Table 6, which other rules apply).
    nsaids = [e for e in _nsaids(ctx) if not e.has("cox2_selective_nsaid")]
    if not nsaids or not ctx.aged(spec.thresholds["min_age"]) or gastroprotected(ctx):
        return
    if ctx.rulebook.rules["gi.nsaid_ulcer_history"].enabled and ctx.has_condition("peptic_ulcer", "gi_bleed"):
        return  # the ulcer-history finding already says it, more strongly
    high_risk = ctx.age >= spec.thresholds["high_risk_age"]
    chronic = ctx.patient.pain_type == "chronic" or any(
        (e.line.duration_days or 0) > spec.thresholds["chronic_after_days"] for e in nsaids)
    if high_risk:
        summary = f"{names(nsaids)} at age {ctx.age} without a PPI: high GI bleeding risk"
        detail = (f"Age {ctx.age} puts the patient in the high-risk group for NSAID-related GI bleeding and peptic "
                  "ulcer (AGS Beers 2023, Table 2). Avoid chronic use unless alternatives are not effective and a "
                  "gastroprotective agent is taken.")
    elif chronic:
        summary = f"Chronic {names(nsaids)} at age {ctx.age} without a PPI: avoid (Beers)"
        detail = ("AGS Beers 2023 (Table 2): in older adults avoid chronic use of non-COX-selective NSAIDs unless "
                  "other alternatives are not effective and the patient can take a gastroprotective agent (PPI or "
                  "misoprostol).")
    else:
        summary = f"{names(nsaids)} at age {ctx.age}: avoid chronic use without gastroprotection (Beers)"
        detail = ("AGS Beers 2023 (Table 2): in older adults avoid chronic use of non-COX-selective NSAIDs unless "
                  "other alternatives are not effective and the patient can take a gastroprotective agent; a short "
                  "course is a different matter.")
    case = "high_risk" if high_risk else "chronic_use" if chronic else "older_adult"
    yield ctx.finding(spec, severity=spec.severity_for(case),
                      exposures=nsaids, summary=summary, detail=detail,
                      suggestions=[_add_ppi(), _instead_of_nsaid(nsaids[0])])


# ---------------------------------------------------------------------------------------------------- bleeding
def _anticoagulants(ctx: CheckContext) -> list[Exposure]:
    return ctx.distinct_with_class("anticoagulant")


def _antiplatelets(ctx: CheckContext) -> list[Exposure]:
    """Antiplatelets that are not also acting as NSAIDs (aspirin above 325 mg/day goes through the NSAID rules)."""
    return [e for e in ctx.distinct_with_class("antiplatelet") if not e.has("nsaid")]


def _serotonergic_antidepressants(ctx: CheckContext) -> list[Exposure]:
    return ctx.distinct(ctx.with_class("ssri") + ctx.with_class("snri"))


def _pair(ctx: CheckContext, spec: Rule, first: list[Exposure], second: list[Exposure], summary: str,
          detail: str, fixes: list[dict]) -> Iterator[Finding]:
    if first and second:
        yield ctx.finding(spec, exposures=first + second, summary=summary, detail=detail, suggestions=fixes)


@rule("bleeding.anticoagulant_nsaid")
def anticoagulant_nsaid(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    anticoagulants, nsaids = _anticoagulants(ctx), _nsaids(ctx)
    if anticoagulants and nsaids:
        yield from _pair(ctx, spec, anticoagulants, nsaids,
                         f"Do not combine {names(anticoagulants)} with {names(nsaids)}: major bleeding risk",
                         (f"{names(nsaids)} adds GI injury and platelet inhibition to the anticoagulant effect of "
                          f"{names(anticoagulants)}: GI and other major bleeding. Use acetaminophen (or a topical "
                          "NSAID for local pain)."),
                         [_instead_of_nsaid(nsaids[0])])


@rule("bleeding.two_anticoagulants")
def two_anticoagulants(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    anticoagulants = _anticoagulants(ctx)
    if len(anticoagulants) >= 2:
        yield ctx.finding(spec, exposures=anticoagulants,
                          summary=f"Two anticoagulants: {names(anticoagulants)}",
                          detail=("More than one anticoagulant at the same time multiplies the bleeding risk; overlap "
                                  "only as a documented, time-limited transition (e.g. bridging)."),
                          suggestions=[suggestion("Keep one anticoagulant", "stop",
                                                  drug=anticoagulants[-1].name, line=anticoagulants[-1].line.ref)])


@rule("bleeding.anticoagulant_antiplatelet")
def anticoagulant_antiplatelet(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    anticoagulants, antiplatelets = _anticoagulants(ctx), _antiplatelets(ctx)
    yield from _pair(ctx, spec, anticoagulants, antiplatelets,
                     f"Bleeding risk: {names(anticoagulants)} with antiplatelet {names(antiplatelets)}",
                     ("An anticoagulant with an antiplatelet raises major bleeding risk. Confirm both are "
                      "indicated (e.g. a recent coronary stent) and for how long."),
                     [suggestion("Confirm the indication for the antiplatelet, or stop it", "review")])


@rule("bleeding.anticoagulant_ssri_snri")
def anticoagulant_ssri_snri(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    anticoagulants, antidepressants = _anticoagulants(ctx), _serotonergic_antidepressants(ctx)
    yield from _pair(ctx, spec, anticoagulants, antidepressants,
                     f"Bleeding risk: {names(anticoagulants)} with {names(antidepressants)}",
                     ("SSRIs and SNRIs impair platelet serotonin uptake and add to the bleeding risk of "
                      "anticoagulants; with warfarin, check the INR after starting or changing the dose."),
                     [suggestion("Monitor for bleeding (INR with warfarin)", "monitor")])


@rule("bleeding.antiplatelet_nsaid")
def antiplatelet_nsaid(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    antiplatelets, nsaids = _antiplatelets(ctx), _nsaids(ctx)
    if not antiplatelets or not nsaids:
        return
    aspirin_note = " Ibuprofen taken before low-dose aspirin can blunt its antiplatelet effect." \
        if any(a.name == "aspirin" for a in antiplatelets) and any(n.name == "ibuprofen" for n in nsaids) else ""
    fixes = [_instead_of_nsaid(nsaids[0])] + ([] if gastroprotected(ctx) else [_add_ppi()])
    yield from _pair(ctx, spec, antiplatelets, nsaids,
                     f"Bleeding risk: {names(nsaids)} with antiplatelet {names(antiplatelets)}",
                     f"An NSAID with an antiplatelet raises GI bleeding risk.{aspirin_note}", fixes)


@rule("bleeding.antiplatelet_ssri_snri")
def antiplatelet_ssri_snri(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    antiplatelets, antidepressants = _antiplatelets(ctx), _serotonergic_antidepressants(ctx)
    yield from _pair(ctx, spec, antiplatelets, antidepressants,
                     f"Additive bleeding risk: {names(antiplatelets)} with {names(antidepressants)}",
                     "SSRIs and SNRIs add to the bleeding risk of antiplatelets; watch for bleeding.", [])


@rule("bleeding.warfarin_acetaminophen")
def warfarin_acetaminophen(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    warfarin = [e for e in _anticoagulants(ctx) if e.name == "warfarin"]
    limit = spec.thresholds["acetaminophen_mg_per_day_above"]
    total = ctx.derived["acetaminophenMgPerDay"]
    if not warfarin or total <= limit:
        return
    apap = [e for e in ctx.exposures if e.name == "acetaminophen"]
    yield ctx.finding(spec, exposures=warfarin + apap,
                      summary=f"Warfarin with acetaminophen {mg(total)}/day (> {mg(limit)}): INR may rise",
                      detail=(f"Acetaminophen from all products comes to {mg(total)}/day. Regular doses above "
                              f"{mg(limit)}/day raise the INR of patients on warfarin within 1-2 weeks."),
                      suggestions=[suggestion(f"Keep acetaminophen at or below {mg(limit)}/day, or check the INR "
                                              "within a week", "monitor")])
