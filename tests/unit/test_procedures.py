"""Procedure planning for anticoagulated patients: real dates, by the ASRA Pain Medicine bleeding-risk tiers."""
import datetime as dt

import pytest

from tests.unit.clinical import AS_OF, line, patient

MG = "mg"
PROCEDURE_DAY = dt.date(2026, 12, 10)


def planned(kind: str, on: dt.date = PROCEDURE_DAY, level: str | None = None) -> tuple:
    return (kind, on, level)


def on_drug(check, drug: str, dose: float, freq: str, procedure: tuple, **who):
    person = patient(age=66, crcl=80, meds=(line(drug, dose, MG, freq),), procedures=(procedure,), **who)
    return check(person)  # an empty regimen: the plan concerns what the patient already takes


def hold(outcome, drug: str):
    return outcome.finding(f"procedure.hold.{drug}")


def test_warfarin_before_a_high_risk_procedure_is_held_5_days_with_an_inr_check(check):
    outcome = on_drug(check, "warfarin", 5, "daily", planned("scs_trial"))
    finding = hold(outcome, "warfarin")
    assert finding.severity == "warning"
    assert "stop 2026-12-05 (5 d before)" in finding.summary
    assert "INR" in finding.detail
    step = finding.suggestions[0]
    assert (step["stopOn"], step["action"]) == ("2026-12-05", "hold")


def test_dates_cross_month_and_year_ends(check):
    outcome = on_drug(check, "warfarin", 5, "daily", planned("scs_implant", dt.date(2027, 1, 3)))
    assert hold(outcome, "warfarin").suggestions[0]["stopOn"] == "2026-12-29"
    outcome = on_drug(check, "naproxen", 500, "BID", planned("vertebral_augmentation", dt.date(2027, 3, 2)))
    step = hold(outcome, "naproxen").suggestions[0]
    assert (step["stopOn"], step["restartOn"]) == ("2027-02-26", "2027-03-03")


def test_warfarin_before_a_low_risk_procedure_is_a_shared_decision_not_a_hold(check):
    outcome = on_drug(check, "warfarin", 5, "daily", planned("trigger_point_injection"))
    assert not [c for c in outcome.codes() if c.startswith("procedure.hold")]
    assert outcome.severity("procedure.consult.warfarin") == "info"
    assert outcome.alerts() == set()


@pytest.mark.parametrize("drug, days", [("ibuprofen", 1), ("naproxen", 4), ("meloxicam", 4), ("nabumetone", 6),
                                        ("indomethacin", 2), ("etodolac", 2), ("diclofenac", 1)])
def test_nsaids_are_held_by_half_life_only_for_high_risk_procedures(check, drug, days):
    high = on_drug(check, drug, 100, "daily", planned("scs_trial"))
    assert hold(high, drug).suggestions[0]["stopOn"] == (PROCEDURE_DAY - dt.timedelta(days=days)).isoformat()
    intermediate = on_drug(check, drug, 100, "daily", planned("transforaminal_esi"))
    assert not [c for c in intermediate.codes() if c.startswith("procedure")]


def test_low_dose_aspirin_depends_on_its_indication_and_says_to_consult(check):
    outcome = on_drug(check, "aspirin", 81, "daily", planned("scs_trial"))
    finding = hold(outcome, "aspirin")
    assert "if for primary prevention: stop 2026-12-04" in finding.summary
    assert "Consult the prescribing physician" in finding.detail


def test_cervical_facet_procedures_are_intermediate_and_lumbar_ones_low(check):
    cervical = on_drug(check, "aspirin", 81, "daily", planned("facet_rfa", level="cervical"))
    lumbar = on_drug(check, "aspirin", 81, "daily", planned("facet_rfa", level="lumbar"))
    assert cervical.severity("procedure.consult.aspirin") == "info"
    assert not [c for c in lumbar.codes() if c.startswith("procedure")]


def test_enoxaparin_prophylactic_and_therapeutic_doses_hold_differently(check):
    prophylactic = on_drug(check, "enoxaparin", 40, "daily", planned("interlaminar_esi"))
    therapeutic = on_drug(check, "enoxaparin", 80, "BID", planned("interlaminar_esi"))
    assert hold(prophylactic, "enoxaparin").suggestions[0]["stopOn"] == "2026-12-09"  # 12 hours before
    assert hold(therapeutic, "enoxaparin").suggestions[0]["stopOn"] == "2026-12-09"  # 24 hours before
    assert "24 hours" in hold(therapeutic, "enoxaparin").detail


def test_a_hold_that_should_already_have_begun_is_critical(check):
    outcome = on_drug(check, "warfarin", 5, "daily", planned("scs_trial", AS_OF + dt.timedelta(days=2)))
    assert hold(outcome, "warfarin").severity == "critical"


def test_no_procedure_planned_means_no_procedure_finding(check):
    outcome = check(patient(age=66, crcl=80, meds=(line("warfarin", 5, MG, "daily"),)))
    assert "procedure" not in outcome.categories()


def test_a_past_procedure_is_not_planned(check):
    outcome = on_drug(check, "warfarin", 5, "daily", planned("scs_trial", AS_OF - dt.timedelta(days=1)))
    assert "procedure" not in outcome.categories()


def test_the_plan_is_also_available_alone(engine):
    from tests.unit.clinical import request

    person = patient(age=66, crcl=80, meds=(line("warfarin", 5, MG, "daily"),), procedures=(planned("scs_trial"),))
    plan = engine.plan_procedures(request(person))
    assert plan[0]["tier"] == "high"
    assert plan[0]["drugs"][0]["stopOn"] == "2026-12-05" and plan[0]["drugs"][0]["checkInr"] is True


@pytest.mark.parametrize("drug, dose, kind", [("apixaban", 5, "label_minimum"), ("dabigatran", 150, "unverified"),
                                              ("edoxaban", 60, "unverified")])
@pytest.mark.parametrize("tier_procedure, severity", [("scs_trial", "warning"), ("trigger_point_injection", "info")])
def test_an_anticoagulant_without_an_asra_interval_is_said_never_passed_over(check, drug, dose, kind, tier_procedure,
                                                                             severity):
    outcome = on_drug(check, drug, dose, "BID", planned(tier_procedure))
    assert outcome.severity(f"procedure.{kind}.{drug}") == severity


def test_a_hold_plan_is_said_whatever_else_is_being_ordered(check):
    # the plan is about the procedure: ordering acetaminophen the same day must not hide the warfarin hold
    person = patient(age=66, crcl=80, meds=(line("warfarin", 5, MG, "daily"),), procedures=(planned("scs_trial"),))
    outcome = check(person, line("acetaminophen", 500, MG, "TID"))
    assert "stop 2026-12-05" in hold(outcome, "warfarin").summary
