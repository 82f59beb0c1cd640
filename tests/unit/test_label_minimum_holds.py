"""Procedure holds for the DOACs and P2Y12 inhibitors: the ASRA rows were not read, so the plan gives each label's own
perioperative minimum, dated, renal-adjusted where the label adjusts (dabigatran by CrCl), with the advice to confirm
the interval for high-risk spinal procedures with the proceduralist, and never as a pain-procedure hold. Apixaban's,
rivaroxaban's and clopidogrel's sentences were read in the label text: a verified label minimum
(procedure.label_minimum). Dabigatran's, prasugrel's and ticagrelor's only as quoted by secondary sources: unverified
(procedure.unverified)."""
import datetime as dt

import pytest

from stewardship import knowledge
from tests.unit.clinical import line, patient

PROCEDURE_DAY = dt.date(2026, 12, 10)


def on_drug(check, drug: str, dose: float, freq: str, procedure: str, *, crcl: float | None = 80,
            on: dt.date = PROCEDURE_DAY):
    person = patient(age=66, crcl=crcl, meds=(line(drug, dose, "mg", freq),), procedures=((procedure, on, None),))
    return check(person)


def label_minimum(outcome, drug: str):
    return outcome.finding(f"procedure.label_minimum.{drug}")


def unverified(outcome, drug: str):
    return outcome.finding(f"procedure.unverified.{drug}")


def test_apixaban_before_an_interlaminar_esi_is_the_label_minimum_warning_2_days_not_unverified(check):
    outcome = on_drug(check, "apixaban", 5, "BID", "interlaminar_esi")
    finding = label_minimum(outcome, "apixaban")
    assert finding.severity == "warning"
    assert "label minimum 2 d (FDA label), stop 2026-12-08" in finding.summary
    assert "unverified" not in finding.summary.lower() and "Unverified" not in finding.detail
    assert not [c for c in outcome.codes() if c.startswith(("procedure.unverified", "procedure.hold"))]
    assert "at least 48 hours" in finding.detail  # the label's sentence, quoted
    assert "2.3 Temporary Interruption for Surgery" in finding.detail and "read 2026-12-05" in finding.detail
    assert "confirm the interval for high-risk spinal procedures with the proceduralist" in finding.detail.lower()
    assert "ASRA pain-procedure interval may be longer" in finding.detail
    assert "Boxed Warning" in finding.detail  # the consult text: premature discontinuation, spinal/epidural hematoma


def test_apixaban_before_a_trigger_point_injection_is_the_labels_24_hours_and_only_info(check):
    finding = label_minimum(on_drug(check, "apixaban", 5, "BID", "trigger_point_injection"), "apixaban")
    assert finding.severity == "info"
    assert "label minimum 1 d (FDA label), stop 2026-12-09" in finding.summary


def test_rivaroxaban_is_the_labels_24_hour_minimum_never_a_pain_procedure_hold(check):
    outcome = on_drug(check, "rivaroxaban", 20, "daily", "interlaminar_esi")
    assert not [c for c in outcome.codes() if c.startswith("procedure.hold")]
    finding = label_minimum(outcome, "rivaroxaban")
    assert "label minimum 1 d (FDA label)" in finding.summary
    assert "2.4 Discontinuation for Surgery and other Interventions" in finding.detail


def test_a_label_minimum_hold_never_goes_critical_even_when_the_stop_date_has_passed(check):
    finding = label_minimum(on_drug(check, "apixaban", 5, "BID", "scs_trial", on=dt.date(2026, 11, 28)), "apixaban")
    assert "should have begun (FDA label)" in finding.summary
    assert finding.severity == "warning"


def test_dabigatran_stays_unverified(check):
    outcome = on_drug(check, "dabigatran", 150, "BID", "interlaminar_esi")
    finding = unverified(outcome, "dabigatran")
    assert finding.severity == "warning"
    assert "label minimum 1 d (unverified)" in finding.summary
    assert "**Unverified:**" in finding.detail and "proceduralist" in finding.detail
    assert not [c for c in outcome.codes() if c.startswith("procedure.label_minimum")]


@pytest.mark.parametrize("crcl, days", [(50, 1), (49, 3), (49.9, 3), (80, 1), (31, 3)])
def test_dabigatran_minimum_depends_on_crcl_at_50(check, crcl, days):
    finding = unverified(on_drug(check, "dabigatran", 150, "BID", "transforaminal_esi", crcl=crcl), "dabigatran")
    assert f"label minimum {days} d (unverified)" in finding.summary


def test_dabigatran_without_kidney_function_is_planned_with_the_longer_interval_and_says_so(check):
    finding = unverified(on_drug(check, "dabigatran", 150, "BID", "scs_trial", crcl=None), "dabigatran")
    assert "label minimum 3 d" in finding.summary
    assert "kidney function not given" in finding.detail


def test_clopidogrel_before_a_high_risk_procedure_is_the_labels_5_day_minimum(check):
    finding = label_minimum(on_drug(check, "clopidogrel", 75, "daily", "scs_implant"), "clopidogrel")
    assert "label minimum 5 d (FDA label), stop 2026-12-05" in finding.summary
    assert finding.severity == "warning"
    assert "5.3 Discontinuation of Clopidogrel" in finding.detail


@pytest.mark.parametrize("drug, dose, days", [("prasugrel", 10, 7), ("ticagrelor", 90, 5)])
def test_prasugrel_and_ticagrelor_get_their_labels_minimum_unverified(check, drug, dose, days):
    finding = unverified(on_drug(check, drug, dose, "daily", "scs_implant"), drug)
    stop = (PROCEDURE_DAY - dt.timedelta(days=days)).isoformat()
    assert f"label minimum {days} d (unverified), stop {stop}" in finding.summary
    assert finding.severity == "warning"


def test_clopidogrel_before_a_low_risk_procedure_has_no_label_interval_and_is_a_decision(check):
    finding = label_minimum(on_drug(check, "clopidogrel", 75, "daily", "peripheral_joint_injection"), "clopidogrel")
    assert finding.severity == "info"
    assert "decide with the prescriber" in finding.summary


def test_an_unverified_label_minimum_that_should_already_have_begun_says_so_but_stays_a_warning(check):
    finding = unverified(on_drug(check, "prasugrel", 10, "daily", "scs_trial", on=dt.date(2026, 11, 30)), "prasugrel")
    assert "should have begun (unverified)" in finding.summary
    assert finding.severity == "warning"


def test_edoxaban_still_has_no_interval_and_is_said_not_passed_over(check):
    finding = unverified(on_drug(check, "edoxaban", 60, "daily", "scs_trial"), "edoxaban")
    assert "hold interval not in the knowledge base" in finding.summary


def test_the_plan_alone_marks_unverified_label_minimums_as_not_verified(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=40, meds=(line("dabigatran", 75, "mg", "BID"),),
                     procedures=(("scs_trial", PROCEDURE_DAY, None),))
    drug = engine.plan_procedures(request(person))[0]["drugs"][0]
    assert drug["verified"] is False and drug["labelMinimum"] is False
    assert drug["stopOn"] == "2026-12-07" and drug["restartOn"] is None
    assert all(item["unverified"] for item in drug["guidance"])


def test_the_plan_alone_marks_a_label_floor_as_a_verified_label_minimum(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=80, meds=(line("apixaban", 5, "mg", "BID"),),
                     procedures=(("interlaminar_esi", PROCEDURE_DAY, None),))
    drug = engine.plan_procedures(request(person))[0]["drugs"][0]
    assert drug["verified"] is True and drug["labelMinimum"] is True and drug["stopOn"] == "2026-12-08"
    assert all(item["labelFloor"] and not item["unverified"] for item in drug["guidance"])


def test_warfarin_holds_remain_verified_in_the_plan(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=80, meds=(line("warfarin", 5, "mg", "daily"),),
                     procedures=(("scs_trial", PROCEDURE_DAY, None),))
    drug = engine.plan_procedures(request(person))[0]["drugs"][0]
    assert drug["verified"] is True and drug["labelMinimum"] is False


LABEL_FLOOR = {"tiers": ["high"], "hold_hours": 48, "note": "Label minimum: at least 48 hours", "label_floor": True,
               "source": "label-apixaban-spl: 2.3 Temporary Interruption for Surgery and Other Interventions"}


def test_a_label_floor_is_loaded_only_from_a_label_and_never_also_unverified():
    assert knowledge.HoldSchema().load(LABEL_FLOOR)["label_floor"] is True
    with pytest.raises(Exception, match="cannot also be unverified"):
        knowledge.HoldSchema().load({**LABEL_FLOOR, "unverified": "read only in a secondary summary"})
    with pytest.raises(Exception, match="'label-' source"):
        knowledge.HoldSchema().load({**LABEL_FLOOR, "source": "uptodate-graphic-108918: DOACs"})
