"""Issue 12, wrong or wrongly applied facts: each fixed at the boundary its source draws, and the everyday regimens
around it stay quiet."""
import datetime as dt

import pytest

from tests.unit.clinical import AS_OF, line, patient

MG = "mg"
ADULT = dict(age=45, crcl=100, weight=75)


# -------------------------------------------------------------------------------------------- acetaminophen, liver
def test_acetaminophen_1_5_g_a_day_in_cirrhosis_of_unknown_severity_is_a_caution_not_an_avoid(check):
    outcome = check(patient(age=60, crcl=90, conditions=("cirrhosis",)), line("acetaminophen", 500, MG, "TID"))
    assert "hepatic.acetaminophen.avoid" not in outcome.codes()
    assert outcome.severity("hepatic.acetaminophen.caution") == "info"
    assert "avoid if Child-Pugh C" in outcome.finding("hepatic.acetaminophen.caution").summary
    assert not outcome.alerts()


def test_acetaminophen_is_contraindicated_in_child_pugh_c(check):
    outcome = check(patient(age=60, crcl=90, conditions=("cirrhosis",), child_pugh="C"),
                    line("acetaminophen", 500, MG, "TID"))
    assert outcome.severity("hepatic.acetaminophen.avoid") == "critical"


def test_acetaminophen_in_child_pugh_b_is_a_caution(check):
    outcome = check(patient(age=60, crcl=90, conditions=("cirrhosis",), child_pugh="B"),
                    line("acetaminophen", 500, MG, "TID"))
    assert outcome.severity("hepatic.acetaminophen.caution") == "info"
    assert not outcome.alerts()


@pytest.mark.parametrize("per_dose, noted", [(500, False), (1000, True)])  # TID: 1,500 vs 3,000 mg/day
def test_the_unverified_2_g_ceiling_in_cirrhosis_is_only_a_note(check, per_dose, noted):
    outcome = check(patient(age=60, crcl=90, conditions=("cirrhosis",)), line("acetaminophen", per_dose, MG, "TID"))
    assert (outcome.severity("hepatic.max_dose") == "info") is noted
    assert "dose.acetaminophen_total" not in outcome.codes()  # the 4 g ceiling of the label still holds


# -------------------------------------------------------------------------------------------- naproxen sodium
def test_anaprox_ds_three_times_a_day_is_1500_mg_naproxen_at_the_label_maximum(check):
    outcome = check(patient(**ADULT), line("Anaprox DS 550 mg", 1, "tablet", "TID"))
    assert "dose.max_daily" not in outcome.codes()
    amount = outcome.derived["lines"][0]["ingredients"][0]["dailyAmount"]
    assert amount == {"value": 1500.0, "unit": "mg"}


def test_naproxen_sodium_550_mg_four_times_a_day_is_2000_mg_naproxen_above_the_maximum(check):
    outcome = check(patient(**ADULT), line("naproxen sodium 550 mg", 1, "tablet", "QID"))
    assert outcome.severity("dose.max_daily") == "warning"
    assert "2,000 mg/day" in outcome.finding("dose.max_daily").summary
    assert "naproxen sodium" in outcome.finding("dose.max_daily").detail


def test_a_naproxen_sodium_dose_in_mg_is_counted_as_naproxen(check):
    at_max = check(patient(**ADULT), line("naproxen sodium", 550, MG, "TID"))
    assert "dose.max_daily" not in at_max.codes()


@pytest.mark.parametrize("per_dose, flagged", [(500, False), (750, True)])  # naproxen base, BID/TID
def test_plain_naproxen_is_held_to_1500_mg(check, per_dose, flagged):
    outcome = check(patient(**ADULT), line("naproxen", per_dose, MG, "TID"))
    assert ("dose.max_daily" in outcome.codes()) is flagged


# -------------------------------------------------------------------------------------------- misoprostol
def test_arthrotec_with_an_ulcer_history_is_gastroprotected(check):
    outcome = check(patient(age=60, crcl=90, conditions=("peptic_ulcer",)),
                    line("diclofenac/misoprostol 75/0.2", 1, "tablet", "BID"))
    assert outcome.severity("gi.nsaid_ulcer_history") == "warning"  # protected: not critical
    assert "no gastroprotection" not in outcome.finding("gi.nsaid_ulcer_history").summary
    assert "unresolved.ingredient" not in outcome.codes()  # misoprostol is known now


def test_diclofenac_alone_with_an_ulcer_history_is_still_critical(check):
    outcome = check(patient(age=60, crcl=90, conditions=("peptic_ulcer",)), line("diclofenac", 75, MG, "BID"))
    assert outcome.severity("gi.nsaid_ulcer_history") == "critical"


def test_misoprostol_protects_an_older_adult_on_an_nsaid_like_a_ppi(check):
    outcome = check(patient(age=78, crcl=70), line("naproxen", 500, MG, "BID"),
                    line("misoprostol", 0.2, MG, "QID"))
    assert "gi.nsaid_older_adult" not in outcome.codes()


def test_naproxen_with_omeprazole_in_a_70_year_old_without_ulcer_history_is_quiet(check):
    outcome = check(patient(age=70, crcl=80, sex="female"), line("naproxen", 500, MG, "BID"),
                    line("omeprazole", 20, MG, "daily"))
    assert not outcome.alerts()


# -------------------------------------------------------------------------------------------- patches in mcg/h
@pytest.mark.parametrize("patches, flagged", [(1, False), (2, True)])
def test_buprenorphine_patches_above_20_mcg_per_hour_are_flagged(check, patches, flagged):
    outcome = check(patient(**ADULT), line("Butrans 20 mcg/h", patches, "patch", "weekly"))
    assert ("dose.max_daily" in outcome.codes()) is flagged
    if flagged:
        assert "40 mcg/h" in outcome.finding("dose.max_daily").summary


def test_two_buprenorphine_patch_lines_are_added_up(check):
    outcome = check(patient(**ADULT), line("Butrans 10 mcg/h", 1, "patch", "weekly"),
                    line("Butrans 15 mcg/h", 1, "patch", "weekly"))
    assert outcome.severity("dose.max_daily") == "warning"


def test_a_mcg_per_hour_maximum_is_never_compared_with_mg(check):
    outcome = check(patient(**ADULT), line("buprenorphine", 8, MG, "daily", route="sublingual"))
    assert "dose.max_daily" not in outcome.codes()


# -------------------------------------------------------------------------------------------- naloxone
def test_an_opioid_with_sleep_apnea_offers_naloxone(check):
    outcome = check(patient(age=50, crcl=90, conditions=("sleep_apnea",)), line("oxycodone", 5, MG, "q6h"))
    assert outcome.severity("opioid.naloxone") == "warning"
    assert "sleep-disordered breathing" in outcome.finding("opioid.naloxone").summary


def test_an_opioid_with_sleep_apnea_and_naloxone_on_the_list_is_not_asked_again(check):
    outcome = check(patient(age=50, crcl=90, conditions=("sleep_apnea",)), line("oxycodone", 5, MG, "q6h"),
                    line("naloxone", 4, MG, "once", prn=True, route="nasal"))
    assert "opioid.naloxone" not in outcome.codes()


def test_a_low_dose_opioid_without_risk_factors_does_not_ask_for_naloxone(check):
    assert "opioid.naloxone" not in check(patient(**ADULT), line("oxycodone", 5, MG, "q6h")).codes()


# -------------------------------------------------------------------------------------------- methocarbamol
@pytest.mark.parametrize("days, code_severity", [(3, None), (4, "warning"), (None, "info")])
def test_methocarbamol_6_g_a_day_is_an_initial_dose_for_72_hours_only(check, days, code_severity):
    outcome = check(patient(**ADULT), line("methocarbamol", 1500, MG, "QID", days=days))
    assert outcome.severity("dose.max_daily") == code_severity


@pytest.mark.parametrize("per_dose, flagged", [(750, False), (1000, True)])  # q4h: 4,500 vs 6,000 mg/day
def test_methocarbamol_maintenance_is_held_to_4_5_g_from_day_4(check, per_dose, flagged):
    started = AS_OF - dt.timedelta(days=10)
    outcome = check(patient(**ADULT, meds=(line("methocarbamol", per_dose, MG, "q4h", start=started),)),
                    line("methocarbamol", per_dose, MG, "q4h", start=started))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


@pytest.mark.parametrize("per_dose, flagged", [(2000, False), (2250, True)])  # QID: 8,000 vs 9,000 mg/day
def test_methocarbamol_never_above_8_g_a_day(check, per_dose, flagged):
    outcome = check(patient(**ADULT), line("methocarbamol", per_dose, MG, "QID", days=2))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


# -------------------------------------------------------------------------------------------- tapentadol
@pytest.mark.parametrize("per_dose, flagged", [(250, False), (300, True)])  # BID: 500 vs 600 mg/day
def test_tapentadol_er_is_held_to_500_mg_a_day(check, per_dose, flagged):
    outcome = check(patient(**ADULT, meds=(line("oxycodone", 10, MG, "q6h"),)),
                    line("tapentadol ER", per_dose, MG, "BID"))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


def test_tapentadol_ir_600_mg_a_day_is_within_its_own_maximum(check):
    outcome = check(patient(**ADULT), line("tapentadol", 100, MG, "q4h", days=5))
    assert "dose.max_daily" not in outcome.codes()


def test_tapentadol_ir_700_mg_on_a_longer_course_is_above_600_from_day_2(check):
    outcome = check(patient(**ADULT), line("tapentadol", 175, MG, "q6h", days=5))
    assert outcome.severity("dose.max_daily") == "warning"


# -------------------------------------------------------------------------------------------- ketorolac
@pytest.mark.parametrize("days, flagged", [(5, False), (6, True)])
def test_ketorolac_course_is_limited_to_5_days(check, days, flagged):
    outcome = check(patient(**ADULT), line("ketorolac", 10, MG, "q6h", days=days))
    assert ("dose.course_length" in outcome.alerts()) is flagged


def test_ketorolac_iv_then_oral_counts_as_one_course(check):
    started = AS_OF - dt.timedelta(days=3)
    outcome = check(patient(**ADULT, meds=(line("ketorolac", 15, MG, "q6h", route="iv", start=started, days=3),)),
                    line("ketorolac", 10, MG, "q6h", days=3))
    # IV from day 1 to day 3, oral from day 4 to day 6: six days of ketorolac
    assert outcome.severity("dose.course_length") == "warning"


@pytest.mark.parametrize("weight, flagged", [(49, True), (50, False)])
def test_ketorolac_iv_above_60_mg_a_day_below_50_kg(check, weight, flagged):
    outcome = check(patient(age=40, crcl=100, weight=weight), line("ketorolac", 30, MG, "q6h", route="iv", days=2))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


@pytest.mark.parametrize("age, flagged", [(64, False), (65, True)])
def test_ketorolac_iv_above_60_mg_a_day_from_age_65(check, age, flagged):
    outcome = check(patient(age=age, crcl=100, weight=75), line("ketorolac", 30, MG, "q6h", route="iv", days=2))
    assert ("dose.older_adult_max" in outcome.alerts()) is flagged


@pytest.mark.parametrize("crcl, noted", [(59, True), (61, False)])
def test_ketorolac_iv_notes_the_label_cap_for_renal_impairment(check, crcl, noted):
    outcome = check(patient(age=40, crcl=crcl, weight=75), line("ketorolac", 15, MG, "q6h", route="iv", days=2))
    finding = [f for f in outcome.findings if f.code == "renal.nsaid.caution"]
    assert bool(finding) is noted
    if noted:
        assert "60 mg/day" in finding[0].detail


@pytest.mark.parametrize("per_dose, flagged", [(10, False), (20, True)])  # q6h: 40 vs 80 mg/day
def test_oral_ketorolac_is_held_to_40_mg_a_day(check, per_dose, flagged):
    outcome = check(patient(**ADULT), line("ketorolac", per_dose, MG, "q6h", days=2))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


# -------------------------------------------------------------------------------------------- alprazolam
def test_alprazolam_6_mg_a_day_without_an_indication_is_only_a_note(check):
    outcome = check(patient(**ADULT), line("alprazolam", 2, MG, "TID"))
    assert outcome.severity("dose.max_daily") == "info"
    assert "10 mg" in outcome.finding("dose.max_daily").detail or "10" in outcome.finding("dose.max_daily").detail


@pytest.mark.parametrize("per_dose, severity", [(1, None), (2.5, "info"), (3.5, "warning")])  # QID: 4, 10, 14 mg
def test_alprazolam_is_warned_above_the_highest_labelled_maximum(check, per_dose, severity):
    outcome = check(patient(**ADULT), line("alprazolam", per_dose, MG, "QID"))
    assert outcome.severity("dose.max_daily") == severity


# -------------------------------------------------------------------------------------------- morphine, codeine
@pytest.mark.parametrize("drug", ["morphine", "codeine"])
@pytest.mark.parametrize("crcl, noted", [(59, True), (61, False)])
def test_morphine_and_codeine_in_renal_impairment_are_a_note(check, drug, crcl, noted):
    outcome = check(patient(age=50, crcl=crcl), line(drug, 15, MG, "q6h", days=3))
    code = f"renal.{drug}.caution"
    assert (outcome.severity(code) == "info") is noted
    assert code not in outcome.alerts()


# -------------------------------------------------------------------------------------------- NSAIDs and organs
@pytest.mark.parametrize("crcl, severity", [(29, "critical"), (31, "info"), (59, "info"), (61, None)])
def test_nsaids_in_ckd_stage_3_are_a_note_and_avoided_below_30(check, crcl, severity):
    outcome = check(patient(age=50, crcl=crcl), line("ibuprofen", 400, MG, "TID"))
    severities = {f.severity for f in outcome.findings if f.code.startswith("renal.nsaid.")}
    assert (severities.pop() if severities else None) == severity


def test_an_nsaid_in_heart_failure_is_a_warning(check):
    outcome = check(patient(age=60, crcl=80, conditions=("heart_failure",)), line("naproxen", 500, MG, "BID"))
    assert outcome.severity("drug_disease.heart_failure.naproxen") == "warning"


def test_an_nsaid_in_cirrhosis_is_noted(check):
    outcome = check(patient(age=60, crcl=80, conditions=("cirrhosis",)), line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("drug_disease.nsaid_cirrhosis") == "info"


def test_nsaid_with_an_ace_inhibitor_and_a_diuretic_is_the_triple_whammy(check):
    outcome = check(patient(age=50, crcl=90, meds=(line("lisinopril", 20, MG, "daily"),
                                                   line("hydrochlorothiazide", 25, MG, "daily"))),
                    line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("renal.nsaid_ras") == "warning"


def test_nsaid_with_an_arb_in_an_older_adult_is_a_note(check):
    outcome = check(patient(age=70, crcl=80, meds=(line("losartan", 50, MG, "daily"),)),
                    line("ibuprofen", 400, MG, "TID"), line("omeprazole", 20, MG, "daily"))
    assert outcome.severity("renal.nsaid_ras") == "info"


@pytest.mark.parametrize("age, noted", [(64, False), (65, True)])
def test_nsaid_with_an_ace_inhibitor_is_noted_from_age_65(check, age, noted):
    outcome = check(patient(age=age, crcl=90, meds=(line("lisinopril", 20, MG, "daily"),)),
                    line("ibuprofen", 400, MG, "TID"), line("omeprazole", 20, MG, "daily"))
    assert ("renal.nsaid_ras" in outcome.codes()) is noted


def test_an_nsaid_with_a_diuretic_alone_is_not_the_triple_whammy(check):
    outcome = check(patient(age=50, crcl=90, meds=(line("furosemide", 40, MG, "daily"),)),
                    line("ibuprofen", 400, MG, "TID"))
    assert "renal.nsaid_ras" not in outcome.codes()


def test_acetaminophen_with_an_ace_inhibitor_and_a_diuretic_is_quiet(check):
    outcome = check(patient(age=72, crcl=70, meds=(line("lisinopril", 20, MG, "daily"),
                                                   line("hydrochlorothiazide", 25, MG, "daily"))),
                    line("acetaminophen", 650, MG, "q6h"))
    assert not outcome.alerts()
