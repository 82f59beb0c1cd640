"""Stopping rules enforced: a ruled drug still taken past its review without an outcome, past its decision point
without benefit (with a dated taper), below an effective dose, or with a dose still rising."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ..context import CheckContext, rule
from ..model import Finding
from ..rulebook import Rule
from ..stopping import Course, helped, pain_change, taper_steps
from .common import mg, suggestion


def _daily(course: Course) -> float | None:
    exposure = course.exposure
    return exposure.daily if exposure.daily is not None and exposure.daily_unit == "mg" else None


def _taper_suggestion(ctx: CheckContext, course: Course) -> dict:
    exposure = course.exposure
    taper = ctx.rulebook.stopping.taper_for(exposure.ingredient)
    daily = _daily(course)
    if taper is None:
        return suggestion(f"Stop {exposure.name}", "stop", drug=exposure.name, line=exposure.line.ref)
    steps = taper_steps(daily, ctx.request.as_of, taper) if daily else []
    label = f"Taper {exposure.name} off" + (f" over at least {taper.min_days} days" if taper.min_days else "") + \
        f": {taper.note}"
    return suggestion(label, "taper", drug=exposure.name, line=exposure.line.ref, steps=steps or None,
                      source=taper.source.text)


def _subtherapeutic(course: Course) -> str | None:
    effective = course.exposure.ingredient.effective_dose
    daily = _daily(course)
    if effective is None or daily is None or effective.amount.unit != "mg" or daily >= effective.amount.value:
        return None
    return (f"{course.exposure.name} is at {mg(daily)}/day, below its usual effective dose of "
            f"{mg(effective.amount.value)}/day ({effective.source.text})")


@rule("stopping_rule.course")
def stopping_course(ctx: CheckContext, spec: Rule) -> Iterator[Finding]:
    book = ctx.rulebook.stopping
    as_of = ctx.request.as_of
    for course in ctx.stopping_courses:
        exposure, rule_ = course.exposure, course.rule
        name = exposure.name
        citations = list(rule_.sources) + list(book.benefit_sources)
        if not ctx.patient.id and exposure.ordered:  # said for what is being started, not for the whole list
            yield ctx.finding(spec, code="stopping_rule.no_patient_id", severity=spec.severity_for("note"),
                              exposures=[exposure], citations=citations,
                              summary=f"No review reminders for {name}: the check has no patient.id",
                              detail=(f"{name} is a {rule_.label}: it is reviewed at {rule_.review_days} days and "
                                      f"stopped or tapered at {rule_.decision_days} days without benefit. Reminders "
                                      "need the EHR's patient id (patient.id)."))
        if course.start is None:
            yield ctx.finding(spec, code="stopping_rule.start_unknown", severity=spec.severity_for("note"),
                              exposures=[exposure], citations=citations,
                              summary=f"{name} is continued but its start date is unknown: review timing not checked",
                              detail=f"Give the startDate of {course.continued_from} to hold {name} to its "
                                     f"{rule_.review_days}-day review and {rule_.decision_days}-day decision.")
            continue
        days = course.days_on(as_of)
        latest = course.outcomes[-1] if course.outcomes else None
        benefit = latest is not None and helped(latest, book.min_pain_reduction)
        review, decision = course.due("review"), course.due("decision")
        low_dose = _subtherapeutic(course)
        if benefit:
            next_review = latest.date + dt.timedelta(days=rule_.re_review_days)
            if as_of < next_review:
                continue  # a documented benefit silences the rule until the next review
            yield ctx.finding(spec, code="stopping_rule.review_due", severity=spec.severity_for("review"),
                              exposures=[exposure], citations=citations,
                              summary=f"Re-review {name}: benefit last documented {latest.date.isoformat()}",
                              detail=(f"{name} helped on {latest.date.isoformat()}{pain_change(latest)}; the next "
                                      f"review was due {next_review.isoformat()}. Record whether it still helps."),
                              suggestions=[suggestion("Record the outcome (benefit or not)", "review", drug=name)])
            continue
        if days >= rule_.decision_days:
            if low_dose:
                yield ctx.finding(spec, code="stopping_rule.subtherapeutic", severity=spec.severity_for("review"),
                                  exposures=[exposure], citations=citations,
                                  summary=f"{name} {days} days in, still below an effective dose: titrate or stop",
                                  detail=(f"{low_dose}. A trial at a dose that cannot work says nothing about the "
                                          "drug: titrate to an effective dose, or stop it."),
                                  suggestions=[suggestion(f"Titrate {name} to an effective dose, or stop it", "review",
                                                          drug=name, line=exposure.line.ref)])
                continue
            what = f"no benefit on {latest.date.isoformat()}{pain_change(latest)}" if latest else \
                "no outcome documented"
            yield ctx.finding(spec, code="stopping_rule.no_benefit", severity=spec.severity_for("decision"),
                              exposures=[exposure], citations=citations,
                              summary=f"Taper off {name}: {days} days in, {what}"[:139],
                              detail=(f"{name} (a {rule_.label}) started {course.start.isoformat()}; the stop-or-taper "
                                      f"decision was due {decision.isoformat()} and {what}. Benefit means: "
                                      f"{book.benefit}"),
                              suggestions=[_taper_suggestion(ctx, course)])
            continue
        if days >= rule_.review_days:
            state = f"no benefit yet on {latest.date.isoformat()}{pain_change(latest)}" if latest else \
                "no outcome recorded"
            extra = f" {low_dose}: titrate before judging it." if low_dose else ""
            yield ctx.finding(spec, code="stopping_rule.review_due", severity=spec.severity_for("review"),
                              exposures=[exposure], citations=citations,
                              summary=f"Review {name}: {days} days in, {state}"[:139],
                              detail=(f"{name} started {course.start.isoformat()}; review was due "
                                      f"{review.isoformat()} and the stop-or-taper decision falls on "
                                      f"{decision.isoformat()}. Benefit means: {book.benefit}{extra}"),
                              suggestions=[suggestion("Record whether it helped", "review", drug=name)])
        previous, current = course.previous_daily_mg, _daily(course)
        if days >= rule_.review_days and previous is not None and current is not None and current > previous:
            yield ctx.finding(spec, code="stopping_rule.dose_rising", severity=spec.severity_for("review"),
                              exposures=[exposure], citations=citations,
                              summary=f"{name} raised {mg(previous)} -> {mg(current)}/day past its review, "
                                      "no benefit documented",
                              detail=("Use the lowest effective dose for the shortest necessary time: a dose still "
                                      "rising after the review point needs a documented benefit first."),
                              suggestions=[suggestion("Document benefit before raising the dose", "review",
                                                      drug=name, line=exposure.line.ref)])
