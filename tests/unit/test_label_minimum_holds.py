"""Procedure holds for the DOACs and P2Y12 inhibitors: the ASRA rows were not read, so the plan gives each label's own
perioperative minimum, dated, renal-adjusted where the label adjusts (dabigatran by CrCl), with the advice to confirm
with the proceduralist, and never as a verified spinal-procedure hold. Apixaban's, rivaroxaban's and clopidogrel's
sentences were read in the label text and are cited there; dabigatran's, prasugrel's and ticagrelor's only as quoted by
secondary sources. Either way the interval for pain procedures itself stays unverified."""
import datetime as dt

import pytest

from tests.unit.clinical import line, patient

PROCEDURE_DAY = dt.date(2026, 12, 10)


def on_drug(check, drug: str, dose: float, freq: str, procedure: str, *, crcl: float | None = 80,
            on: dt.date = PROCEDURE_DAY):
    person = patient(age=66, crcl=crcl, meds=(line(drug, dose, "mg", freq),), procedures=((procedure, on, None),))
    return check(person)


def label_minimum(outcome, drug: str):
    return outcome.finding(f"procedure.unverified.{drug}")


def test_apixaban_before_a_high_risk_procedure_gets_the_labels_48_hour_minimum_dated_and_marked_unverified(check):
    finding = label_minimum(on_drug(check, "apixaban", 5, "BID", "scs_trial"), "apixaban")
    assert finding.severity == "warning"
    assert "label minimum 2 d (stop 2026-12-08)" in finding.summary and "unverified" in finding.summary
    assert "at least 48 hours" in finding.detail
    assert "2.3 Temporary Interruption for Surgery" in finding.detail  # the label text itself is cited
    assert "the label sentence is verified" in finding.detail
    assert "**Unverified:**" in finding.detail and "proceduralist" in finding.detail
    assert "Boxed Warning" in finding.detail  # the consult text: premature discontinuation, spinal/epidural hematoma


def test_apixaban_before_a_low_risk_procedure_is_the_labels_24_hours_and_only_info(check):
    finding = label_minimum(on_drug(check, "apixaban", 5, "BID", "trigger_point_injection"), "apixaban")
    assert finding.severity == "info"
    assert "label minimum 1 d (stop 2026-12-09)" in finding.summary


def test_an_unverified_label_minimum_is_never_a_verified_hold(check):
    outcome = on_drug(check, "rivaroxaban", 20, "daily", "interlaminar_esi")
    assert not [c for c in outcome.codes() if c.startswith("procedure.hold")]
    finding = label_minimum(outcome, "rivaroxaban")
    assert "label minimum 1 d" in finding.summary
    assert "2.4 Discontinuation for Surgery and other Interventions" in finding.detail


@pytest.mark.parametrize("crcl, days", [(50, 1), (49.9, 3), (80, 1), (31, 3)])
def test_dabigatran_minimum_depends_on_crcl_at_50(check, crcl, days):
    finding = label_minimum(on_drug(check, "dabigatran", 150, "BID", "transforaminal_esi", crcl=crcl), "dabigatran")
    assert f"label minimum {days} d" in finding.summary


def test_dabigatran_without_kidney_function_is_planned_with_the_longer_interval_and_says_so(check):
    finding = label_minimum(on_drug(check, "dabigatran", 150, "BID", "scs_trial", crcl=None), "dabigatran")
    assert "label minimum 3 d" in finding.summary
    assert "kidney function not given" in finding.detail


@pytest.mark.parametrize("drug, dose, days", [("clopidogrel", 75, 5), ("prasugrel", 10, 7), ("ticagrelor", 90, 5)])
def test_p2y12_inhibitors_get_their_labels_minimum_before_high_risk_procedures(check, drug, dose, days):
    finding = label_minimum(on_drug(check, drug, dose, "daily", "scs_implant"), drug)
    stop = (PROCEDURE_DAY - dt.timedelta(days=days)).isoformat()
    assert f"label minimum {days} d (stop {stop})" in finding.summary
    assert finding.severity == "warning"


def test_clopidogrel_before_a_low_risk_procedure_has_no_label_interval_and_is_a_decision(check):
    finding = label_minimum(on_drug(check, "clopidogrel", 75, "daily", "peripheral_joint_injection"), "clopidogrel")
    assert finding.severity == "info"
    assert "decide with the prescriber" in finding.summary


def test_a_label_minimum_that_should_already_have_begun_says_so_but_stays_a_warning(check):
    finding = label_minimum(on_drug(check, "prasugrel", 10, "daily", "scs_trial", on=dt.date(2026, 11, 30)),
                            "prasugrel")
    assert "should have begun" in finding.summary
    assert finding.severity == "warning"  # unverified: never escalated to critical


def test_edoxaban_still_has_no_interval_and_is_said_not_passed_over(check):
    outcome = on_drug(check, "edoxaban", 60, "daily", "scs_trial")
    finding = label_minimum(outcome, "edoxaban")
    assert "hold interval not in the knowledge base" in finding.summary


def test_the_plan_alone_marks_label_minimums_as_not_verified(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=40, meds=(line("dabigatran", 75, "mg", "BID"),),
                     procedures=(("scs_trial", PROCEDURE_DAY, None),))
    drug = engine.plan_procedures(request(person))[0]["drugs"][0]
    assert drug["verified"] is False and drug["stopOn"] == "2026-12-07" and drug["restartOn"] is None
    assert all(item["unverified"] for item in drug["guidance"])


def test_warfarin_holds_remain_verified_in_the_plan(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=80, meds=(line("warfarin", 5, "mg", "daily"),),
                     procedures=(("scs_trial", PROCEDURE_DAY, None),))
    assert engine.plan_procedures(request(person))[0]["drugs"][0]["verified"] is True
