"""Two of the same: same class, same ingredient on two lines, several acetaminophen products."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from ..context import CheckContext, Exposure, rule
from ..model import Finding, line_label
from ..rulebook import Rule
from .common import names, suggestion


def _keep_one(exposures: list[Exposure]) -> list[dict]:
    ordered = [e for e in exposures if e.ordered]
    target = ordered[-1] if ordered else exposures[-1]
    return [suggestion(f"Keep one; stop {target.name} ({line_label(target.line.ref)})", "stop", drug=target.name,
                       line=target.line.ref)]


@rule("duplication.same_class")
def same_class(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for klass in spec.classes:
        members = ctx.distinct_with_class(klass)
        if len(members) >= 2:
            label = ctx.kb.classes[klass].label
            yield ctx.finding(spec, code=f"duplication.{klass}", exposures=members,
                              summary=f"Two of one class ({label}): {names(members)}",
                              detail=(f"{names(members)} are both {label.lower()}s: the same effects and risks "
                                      "without added benefit."),
                              suggestions=_keep_one(members), sources=spec.sources_for(klass))
    opioids = ctx.distinct_with_class("opioid")
    for extended, kind, code in ((False, "immediate-release", "opioid_ir"), (True, "ER/LA", "opioid_er_la")):
        same_kind = [e for e in opioids if e.extended_release == extended]
        if len(same_kind) >= 2:
            yield ctx.finding(spec, code=f"duplication.{code}", exposures=same_kind,
                              summary=f"Two {kind} opioids: {names(same_kind)}",
                              detail=(f"{names(same_kind)} are both {kind} opioids; one {kind} opioid is enough "
                                      "(an ER/LA opioid with one immediate-release opioid for breakthrough pain is "
                                      "not a duplicate)."),
                              suggestions=_keep_one(same_kind), sources=spec.sources_for("opioid"))


@rule("duplication.acetaminophen_products")
def acetaminophen_products(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    lines = [e for e in ctx.exposures if e.name == "acetaminophen"]
    if len({e.line.ref for e in lines}) < 2:
        return
    total = ctx.derived["acetaminophenMgPerDay"]
    listed = "; ".join(f"{e.line.ref} {e.line.shown_text}" for e in lines)
    yield ctx.finding(spec, exposures=lines, drugs=["acetaminophen"],
                      summary=f"Acetaminophen in {len(lines)} products ({total:,.0f} mg/day counted together)",
                      detail=(f"Acetaminophen comes from {len(lines)} lines ({listed}); their total counts against "
                              "one daily maximum and is easy to overshoot."),
                      suggestions=_keep_one(lines))


@rule("duplication.same_ingredient")
def same_ingredient(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    by_key: dict[tuple[str, str], list[Exposure]] = defaultdict(list)
    for exposure in ctx.exposures:
        if exposure.ordered and exposure.name != "acetaminophen":  # acetaminophen has its own rule
            by_key[(exposure.name, exposure.route)].append(exposure)
    for (name, route), exposures in by_key.items():
        if len({e.line.ref for e in exposures}) >= 2:
            yield ctx.finding(spec, exposures=exposures,
                              summary=f"{name} ordered on {len(exposures)} lines ({route})",
                              detail=f"{name} by the {route} route appears on " +
                                     ", ".join(e.line.ref for e in exposures) + "; their doses add up.",
                              suggestions=_keep_one(exposures))
