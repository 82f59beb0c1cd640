"""Small helpers the rules share: wording, applicability of dose limits, gastroprotection."""
from __future__ import annotations

from collections.abc import Iterable

from ..context import CheckContext, Exposure
from ..knowledge import Amount, MaxDailyDose


def names(exposures: Iterable[Exposure]) -> str:
    listed = list(dict.fromkeys([e.name for e in exposures]))
    if len(listed) <= 2:
        return " + ".join(listed)
    return ", ".join(listed[:-1]) + " + " + listed[-1]


def mg(value: float) -> str:
    return f"{value:,.0f} mg" if value >= 10 else f"{value:g} mg"


def course_reaches(ctx: CheckContext, exposure: Exposure, day: int) -> bool | None:
    """Whether the course reaches its `day`-th day (day 1 is the start): yes once the patient is there or the order
    runs that long, no when the order ends before, None when neither start nor duration says."""
    line = exposure.line
    start = line.start_date or (None if line.current else ctx.request.as_of)
    if start is not None and (ctx.request.as_of - start).days + 1 >= day:
        return True
    if line.duration_days is not None:
        return line.duration_days >= day
    return None


GASTROPROTECTION = ("ppi", "gastroprotective_prostaglandin")


def gastroprotected(ctx: CheckContext) -> bool:
    """A PPI or misoprostol is taken or ordered, alone or in a combination product such as diclofenac/misoprostol
    (Beers 2023: "PPI or misoprostol" reduces the risk; an H2 blocker is not enough)."""
    return any(ctx.with_class(klass) for klass in GASTROPROTECTION)


def unverified_note(fact: object) -> str:
    """The words a finding adds for a fact read only in a secondary copy (drugdata `unverified: <why>`)."""
    why = getattr(fact, "unverified", None)
    return f" **Unverified:** {why}" if why else ""


def release_of(exposure: Exposure) -> str:
    return "extended" if exposure.extended_release else "immediate"


def applies(limit: MaxDailyDose | object, exposure: Exposure) -> bool:
    """Whether a dose limit or band written for a route and release fits this exposure."""
    route = getattr(limit, "route", None)
    if route is not None and route != exposure.route and not (route == "oral" and exposure.route is None):
        return False
    release = getattr(limit, "release", "any")
    return release == "any" or release == release_of(exposure)


def amount_text(amount: Amount) -> str:
    return f"{amount.value:g} {amount.unit}"


def suggestion(label: str, action: str, **fields: object) -> dict:
    """A structured suggestion: `action` is one of substitute, reduce_dose, add_drug, stop, taper,
    offer_naloxone, monitor, review (the CDS Hooks side turns the concrete ones into FHIR actions)."""
    found: dict = {"label": label, "action": action}
    for key, value in fields.items():  # (a loop, not a merged comprehension: some 25 suggestions a check)
        if value is not None:
            found[key] = value
    return found
