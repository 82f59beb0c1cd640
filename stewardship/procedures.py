"""Planning an interventional pain procedure around antithrombotics (ASRA Pain Medicine guidance, drugdata/
procedures.yaml): which drugs to hold, from which day, and when to restart, with real dates.

Where the guidance defers to a shared assessment with the prescribing physician (aspirin for secondary prevention,
warfarin before a low-risk procedure, ...), the plan says to consult and never advises a hold on its own. A
low-risk procedure without holds gives no warning.

Where drugdata holds only a DOAC's or P2Y12 inhibitor's label minimum (the ASRA interval not read), the plan still gives
its dates, but as the label's minimum, with the advice to confirm the interval for high-risk spinal procedures with the
proceduralist; it is never presented as a pain-procedure hold. That minimum is either read in the label text
(`label_floor`, verified) or only as quoted by a secondary source (`unverified`).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .knowledge import DrugHolds, Hold, ProcedureTier
from .model import PlannedProcedure

if TYPE_CHECKING:
    from .context import CheckContext, Exposure

# Enoxaparin regimens: at most 60 mg a day is a prophylactic regimen (40 mg daily or 30 mg every 12 hours); more is
# therapeutic (weight-based). An unknown dose is planned as therapeutic, the longer hold.
ENOXAPARIN_PROPHYLACTIC_MAX_MG = 60.0


# Antithrombotic classes that a procedure plan must never pass over in silence: where drugdata has no verified
# interval for one of them, the plan says so.
ANTITHROMBOTIC_CLASSES = ("anticoagulant", "antiplatelet")


@dataclass(frozen=True)
class DrugPlan:
    exposure: "Exposure"
    holds: tuple[Hold, ...]  # one, or two when the plan depends on what the check cannot know (aspirin's indication)
    stop_on: dt.date | None  # the first day without the drug
    restart_on: dt.date | None
    too_late: bool  # the hold should already have begun
    consult: str | None
    check_inr: bool
    renal_note: str | None
    interval_unknown: bool = False  # an antithrombotic whose interval drugdata does not (yet) hold

    @property
    def unverified(self) -> tuple[str, ...]:
        """Why the intervals planned here are not verified (empty: every hold is verified)."""
        return tuple(dict.fromkeys(h.unverified for h in self.holds if h.unverified))

    @property
    def label_floor(self) -> bool:
        """Every interval planned here is a label's own minimum, read in the label text (the ASRA interval not read)."""
        return bool(self.holds) and all(h.label_floor for h in self.holds)

    @property
    def needs_hold(self) -> bool:
        return any(not h.conditional and ((h.hold_days or 0) > 0 or (h.hold_hours or 0) > 0) for h in self.holds)

    @property
    def conditional(self) -> bool:
        return any(h.conditional for h in self.holds)


@dataclass(frozen=True)
class ProcedurePlan:
    procedure: PlannedProcedure
    guidance: ProcedureTier
    tier: str
    drugs: tuple[DrugPlan, ...]


def _variant(hold: Hold, exposure: "Exposure") -> bool:
    """Whether a hold written for a route or dose fits this exposure."""
    if hold.route:
        route = {"iv": "intravenous", "sc": "subcutaneous"}.get(exposure.route, exposure.route)
        if route != hold.route:
            return False
    if hold.dose:
        daily = exposure.daily if exposure.daily_unit == "mg" else None
        regimen = "prophylactic" if daily is not None and daily <= ENOXAPARIN_PROPHYLACTIC_MAX_MG else "therapeutic"
        if hold.dose != regimen:
            return False
    return True


def _days_before(hold: Hold) -> int:
    if hold.hold_days:
        return hold.hold_days
    return math.ceil((hold.hold_hours or 0) / 24)


def plan_procedures(ctx: "CheckContext") -> list[ProcedurePlan]:
    guidance = ctx.kb.procedure_guidance
    plans = []
    for procedure in ctx.patient.planned_procedures:
        if procedure.date < ctx.request.as_of:
            continue  # already done: nothing left to plan
        tier_info = guidance.procedures[procedure.procedure]
        tier = tier_info.tier_at(procedure.level)
        drugs = []
        for exposure in ctx.distinct(ctx.systemic()):
            holds_spec: DrugHolds | None = guidance.drugs.get(exposure.name)
            if holds_spec is None:
                if any(exposure.has(c) for c in ANTITHROMBOTIC_CLASSES):
                    drugs.append(DrugPlan(exposure, (), None, None, False, None, False, None, interval_unknown=True))
                continue
            holds = tuple(h for h in holds_spec.holds if tier in h.tiers and _variant(h, exposure))
            if not holds:
                continue
            renal_note = None
            fixed = [h for h in holds if not h.conditional]
            days = max((_days_before(h) for h in fixed), default=0)
            bands = [band for band in holds_spec.renal if tier in band.tiers]
            for band in bands:
                if ctx.crcl is not None and ctx.crcl < band.crcl_below:
                    days = max(days, band.hold_days)
                    renal_note = f"CrCl {ctx.crcl:g} mL/min (< {band.crcl_below:g}): hold {band.hold_days} days"
            if bands and ctx.crcl is None and fixed:
                # the interval depends on kidney function and none was given: plan the longer one, and say so
                longest = max(bands, key=lambda band: band.hold_days)
                days = max(days, longest.hold_days)
                renal_note = (f"kidney function not given: planned with the interval for CrCl < {longest.crcl_below:g} "
                              f"mL/min ({longest.hold_days} days); give a CrCl to shorten it where the label allows")
            stop_on = procedure.date - dt.timedelta(days=days) if days else None
            restart_hours = max((h.restart_hours or 0 for h in fixed), default=0)
            restart_on = procedure.date + dt.timedelta(days=math.ceil(restart_hours / 24)) \
                if stop_on and any(h.restart_hours is not None for h in fixed) else None  # labels give no hour
            drugs.append(DrugPlan(exposure, holds, stop_on, restart_on, bool(stop_on and stop_on < ctx.request.as_of),
                                  holds_spec.consult if any(h.conditional or h.indication or h.unverified
                                                            or h.label_floor for h in holds) else None,
                                  holds_spec.check_inr and bool(stop_on), renal_note))
        plans.append(ProcedurePlan(procedure, tier_info, tier, tuple(drugs)))
    return plans


def plan_json(plans: list[ProcedurePlan]) -> list[dict]:
    """The plan as the API returns it (POST /api/v1/procedure-plans, and inside each procedure finding)."""
    out = []
    for plan in plans:
        out.append({
            "procedure": plan.procedure.procedure, "date": plan.procedure.date.isoformat(),
            "level": plan.procedure.level, "tier": plan.tier, "label": plan.guidance.label,
            "tierSource": plan.guidance.source.text,
            "drugs": [{
                "drug": d.exposure.name, "line": d.exposure.line.ref,
                "hold": d.needs_hold, "stopOn": d.stop_on.isoformat() if d.stop_on else None,
                "restartOn": d.restart_on.isoformat() if d.restart_on else None, "tooLate": d.too_late,
                "consultPrescriber": d.consult, "checkInr": d.check_inr, "renal": d.renal_note,
                "intervalUnknown": d.interval_unknown, "verified": not d.interval_unknown and not d.unverified,
                "labelMinimum": d.label_floor,
                "guidance": [{"note": h.note, "indication": h.indication, "conditional": h.conditional,
                              "source": h.source.text, "url": h.source.url, "unverified": h.unverified,
                              "labelFloor": h.label_floor}
                             for h in d.holds]}
                for d in plan.drugs]})
    return out
