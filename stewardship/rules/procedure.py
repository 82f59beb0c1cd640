"""Planned interventional procedures: hold and restart dates for antithrombotics and NSAIDs, by the procedure's
bleeding-risk tier (ASRA Pain Medicine guidance in drugdata/procedures.yaml)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ..context import CheckContext, rule
from ..model import Finding
from ..procedures import DrugPlan, ProcedurePlan, plan_procedures
from ..rulebook import Rule
from .common import suggestion

_WORDS = {"interlaminar_esi": "interlaminar ESI", "transforaminal_esi": "transforaminal ESI", "facet_mbb": "facet MBB",
          "facet_rfa": "facet RFA", "scs_trial": "SCS trial", "scs_implant": "SCS implant", "drg_stimulation": "DRG "
          "stimulator", "intrathecal_pump": "intrathecal pump", "vertebral_augmentation": "vertebral augmentation",
          "intradiscal": "intradiscal procedure", "sympathetic_block": "sympathetic block",
          "si_joint_injection": "SI joint injection", "trigger_point_injection": "trigger point injection",
          "peripheral_nerve_block": "peripheral nerve block", "peripheral_joint_injection": "joint injection"}


def _procedure_words(plan: ProcedurePlan) -> str:
    return f"{_WORDS[plan.procedure.procedure]} on {plan.procedure.date.isoformat()}"


def _detail(plan: ProcedurePlan, drug: DrugPlan) -> str:
    lines = [f"{plan.guidance.label}: **{plan.tier}** bleeding risk ({plan.guidance.source.text})."]
    lines += [f"- {h.note}" + (f" [{h.indication.replace('_', ' ')}]" if h.indication else "") for h in drug.holds]
    if drug.renal_note:
        lines.append(f"- Kidney function: {drug.renal_note}.")
    if drug.check_inr:
        lines.append("- Check that the INR is normal before the procedure.")
    if drug.consult:
        lines.append(f"\n**Consult the prescribing physician:** {drug.consult}. Never stop an antithrombotic taken "
                     "for a recent stent or high thrombotic risk without them.")
    return "\n".join(lines)


def _label_minimum(plan: ProcedurePlan, drug: DrugPlan) -> tuple[str, str]:
    """Summary and detail for a hold known only as the drug label's minimum (the ASRA interval not read): read in the
    label text (a label floor, verified) or only as quoted by a secondary source (unverified)."""
    name, where = drug.exposure.name, _procedure_words(plan)
    basis = "unverified" if drug.unverified else "FDA label"
    if drug.stop_on:
        days = (plan.procedure.date - drug.stop_on).days
        summary = (f"{name.capitalize()} before {where}: label minimum {days} d ({basis}), stop "
                   f"{drug.stop_on.isoformat()}; confirm")
        if drug.too_late:
            summary = f"{name.capitalize()}: the label's {days}-day minimum before {where} should have begun ({basis})"
    else:
        summary = f"{name.capitalize()} before {where} ({plan.tier} risk): no label interval; decide with the prescriber"
    lines = [f"{plan.guidance.label}: **{plan.tier}** bleeding risk ({plan.guidance.source.text}).",
             f"The ASRA Pain Medicine interval for {name} is not in this knowledge base. What the drug's own label "
             "says is given instead, as the label's **minimum**:"]
    lines += [f"- {h.note} ({h.source.text})" for h in drug.holds]
    if drug.renal_note:
        lines.append(f"- Kidney function: {drug.renal_note}.")
    if drug.stop_on:
        lines.append(f"- Planned with that minimum: last day on {name} {(drug.stop_on - dt.timedelta(days=1)).isoformat()}"
                     f", none from {drug.stop_on.isoformat()} until hemostasis allows a restart.")
    if drug.unverified:
        lines.append("\n**Unverified:** " + "; ".join(drug.unverified) + ". Check the interval against the label.")
    else:
        lines.append("\nThe label's sentence was read in the label text itself (cited above). Not read: the ASRA "
                     "pain-procedure interval; matching the label's bleeding-risk wording to this procedure's tier is "
                     "this service's reading.")
    lines.append("**Confirm the interval for high-risk spinal procedures with the proceduralist**; the ASRA "
                 "pain-procedure interval may be longer: a label's minimum is not a spinal-procedure interval.")
    if drug.consult:
        lines.append(f"**Consult the prescribing physician:** {drug.consult}.")
    return summary, "\n".join(lines)


@rule("procedure.plan")
def procedure_plan(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    for plan in plan_procedures(ctx):
        for drug in plan.drugs:
            name, where = drug.exposure.name, _procedure_words(plan)
            if drug.unverified or drug.label_floor:
                # the missing pain-procedure interval is what raises the warning (as for an interval not held at all),
                # never the label's figure, so a passed stop date is not critical; before a low-risk procedure: info
                summary, detail = _label_minimum(plan, drug)
                kind = "unverified" if drug.unverified else "label_minimum"
                yield ctx.finding(spec, code=f"procedure.{kind}.{name.replace(' ', '_')}",
                                  severity=spec.severity_for("consult" if plan.tier == "low" else "hold"),
                                  exposures=[drug.exposure], summary=summary, detail=detail,
                                  citations=[plan.guidance.source, *(h.source for h in drug.holds)])
            elif drug.needs_hold:
                days = (plan.procedure.date - drug.stop_on).days
                indications = {h.indication for h in drug.holds if h.indication}
                condition = "if for primary prevention: " if indications else ""
                restart = f", restart {drug.restart_on.isoformat()}" if drug.restart_on else ""
                case = "too_late" if drug.too_late else "hold"
                summary = (f"{name.capitalize()} before {where}: {condition}stop {drug.stop_on.isoformat()} "
                           f"({days} d before){restart}")
                if drug.too_late:
                    summary = f"{name.capitalize()}: the {days}-day hold before {where} should have begun"
                yield ctx.finding(spec, code=f"procedure.hold.{name.replace(' ', '_')}",
                                  severity=spec.severity_for(case), exposures=[drug.exposure], summary=summary,
                                  detail=_detail(plan, drug), citations=[h.source for h in drug.holds],
                                  suggestions=[suggestion(
                                      f"{condition.capitalize()}Hold {name} from {drug.stop_on.isoformat()}{restart}; "
                                      "coordinate with the prescriber", "hold", drug=name,
                                      line=drug.exposure.line.ref, procedure=plan.procedure.procedure,
                                      procedureDate=plan.procedure.date.isoformat(),
                                      stopOn=drug.stop_on.isoformat(),
                                      restartOn=drug.restart_on.isoformat() if drug.restart_on else None)])
            elif drug.interval_unknown:
                case = "consult" if plan.tier == "low" else "hold"
                yield ctx.finding(spec, code=f"procedure.unverified.{name.replace(' ', '_')}",
                                  severity=spec.severity_for(case), exposures=[drug.exposure],
                                  summary=f"{name.capitalize()} before {where} ({plan.tier} risk): hold interval not "
                                          "in the knowledge base",
                                  detail=(f"{plan.guidance.label}: **{plan.tier}** bleeding risk "
                                          f"({plan.guidance.source.text}). The ASRA Pain Medicine interval for "
                                          f"{name} has not been verified into this knowledge base yet, so no dates "
                                          "are given: plan the hold and restart from the guidance with the "
                                          "prescribing physician."),
                                  citations=[plan.guidance.source])
            elif drug.conditional:
                yield ctx.finding(spec, code=f"procedure.consult.{name.replace(' ', '_')}",
                                  severity=spec.severity_for("consult"), exposures=[drug.exposure],
                                  summary=f"{name.capitalize()} before {where}: no routine hold; decide with the "
                                          "prescriber",
                                  detail=_detail(plan, drug), citations=[h.source for h in drug.holds])
