"""Sedation, constipation, anticholinergic load, serotonin, QT, doses and opioid stewardship."""
import datetime as dt

import pytest

from tests.unit.clinical import line, patient

MG = "mg"
ADULT = dict(age=45, crcl=100)


# ---------------------------------------------------------------------------------------------------- sedation
def test_opioid_with_a_benzodiazepine_is_critical(check):
    outcome = check(patient(**ADULT), line("oxycodone", 5, MG, "q6h"), line("alprazolam", 0.5, MG, "BID"))
    assert outcome.severity("sedation.opioid_benzodiazepine") == "critical"


def test_the_triple_threat_is_one_critical_finding(check):
    outcome = check(patient(**ADULT), line("oxycodone", 5, MG, "q6h"), line("diazepam", 5, MG, "BID"),
                    line("carisoprodol", 350, MG, "TID"))
    assert outcome.severity("sedation.triple_threat") == "critical"
    assert "sedation.opioid_benzodiazepine" not in outcome.codes()
    assert "sedation.opioid_muscle_relaxant" not in outcome.codes()


def test_opioid_with_a_gabapentinoid_is_a_warning(check):
    outcome = check(patient(**ADULT), line("hydrocodone/acetaminophen 5/325", 1, "tablet", "q6h"),
                    line("pregabalin", 75, MG, "BID"))
    assert outcome.severity("sedation.opioid_gabapentinoid") == "warning"


@pytest.mark.parametrize("age, flagged", [(64, False), (65, True)])
def test_three_cns_active_drugs_in_an_older_adult(check, age, flagged):
    outcome = check(patient(age=age, crcl=90), line("tramadol", 50, MG, "q6h"), line("gabapentin", 300, MG, "TID"),
                    line("duloxetine", 60, MG, "daily"))
    assert ("sedation.cns_active_3plus" in outcome.codes()) is flagged


def test_sleep_apnea_with_an_opioid_is_a_respiratory_warning(check):
    outcome = check(patient(age=50, crcl=90, conditions=("sleep_apnea",)), line("morphine", 15, MG, "q12h"))
    assert outcome.severity("sedation.respiratory_condition") == "warning"


def test_sedating_drugs_that_each_look_fine_stack_up(check):
    outcome = check(patient(**ADULT), line("cyclobenzaprine", 10, MG, "TID"), line("hydroxyzine", 25, MG, "qHS"))
    assert outcome.severity("sedation.stacked") == "warning"


# ------------------------------------------------------------------------------------------------ constipation
BOWEL = "constipation.opioid_without_bowel_regimen"


def test_a_scheduled_opioid_with_no_end_needs_a_bowel_regimen_at_any_age(check):
    """CDC 2022 Recommendation 2: a prophylactic laxative is usually needed if opioids are taken regularly."""
    assert check(patient(**ADULT), line("oxycodone", 5, MG, "q6h")).severity(BOWEL) == "warning"


@pytest.mark.parametrize("days, severity", [(27, "info"), (28, "warning")])
def test_a_scheduled_course_is_regular_use_from_28_days(check, days, severity):
    assert check(patient(**ADULT), line("oxycodone", 5, MG, "q6h", days=days)).severity(BOWEL) == severity


@pytest.mark.parametrize("days, started, severity", [(20, dt.date(2026, 11, 20), "info"),
                                                     (60, dt.date(2026, 10, 15), "warning")])
def test_a_current_scheduled_course_is_regular_use_when_it_runs_28_days(check, days, started, severity):
    """A list review (no order): a 20-day course is more than a few days, a 60-day one is regular use."""
    meds = (line("morphine", 15, MG, "BID", days=days, start=started),)
    assert check(patient(**ADULT, meds=meds)).severity(BOWEL) == severity


@pytest.mark.parametrize("days, severity", [(3, None), (4, "info"), (None, "info")])
def test_an_as_needed_course_in_a_younger_adult_gets_at_most_a_note(check, days, severity):
    """CDC 2022 Recommendation 1: a laxative might be needed if opioids are used for more than a few days; a 5-day
    PRN tramadol course at 35 is not a warning."""
    outcome = check(patient(age=35, crcl=110), line("tramadol", 50, MG, "q6h", prn=True, days=days))
    assert outcome.severity(BOWEL) == severity


@pytest.mark.parametrize("age, severity", [(64, None), (65, "info")])
def test_a_three_day_course_is_quiet_below_65_and_a_note_from_65(check, age, severity):
    assert check(patient(age=age, crcl=90), line("oxycodone", 5, MG, "q6h", days=3)).severity(BOWEL) == severity


@pytest.mark.parametrize("age, severity", [(64, "info"), (65, "warning")])
def test_an_as_needed_week_of_opioid_is_a_warning_from_65(check, age, severity):
    """CDC 2022 Recommendation 8: bowel regimens to prevent constipation among older adults."""
    outcome = check(patient(age=age, crcl=90), line("oxycodone", 5, MG, "q6h", prn=True, days=7))
    assert outcome.severity(BOWEL) == severity


def test_opioid_with_senna_is_quiet_on_constipation(check):
    outcome = check(patient(**ADULT), line("oxycodone", 5, MG, "q6h"), line("senna", 8.6, MG, "qHS"))
    assert BOWEL not in outcome.codes()


def test_a_stool_softener_alone_is_not_a_bowel_regimen(check):
    """CDC 2022 Recommendations 1 and 2: stool softeners without another laxative should be avoided."""
    outcome = check(patient(**ADULT), line("oxycodone", 5, MG, "q6h"), line("docusate", 100, MG, "BID"))
    assert outcome.severity(BOWEL) == "warning"
    finding = outcome.finding(BOWEL)
    assert "docusate alone is not enough" in finding.detail
    assert any("stool softeners or fiber laxatives" in e.citation for e in finding.evidence)
    with_senna = check(patient(**ADULT), line("oxycodone", 5, MG, "q6h"), line("docusate", 100, MG, "BID"),
                       line("senna", 8.6, MG, "qHS"))
    assert BOWEL not in with_senna.codes()


@pytest.mark.parametrize("age, severity", [(64, "info"), (65, "warning")])
def test_stacked_constipation_from_an_opioid_and_a_tca_is_a_warning_from_65(check, age, severity):
    outcome = check(patient(age=age, crcl=90), line("oxycodone", 5, MG, "q6h"), line("amitriptyline", 25, MG, "qHS"),
                    line("polyethylene glycol 3350", 17000, MG, "daily"))
    assert outcome.severity("constipation.stacked") == severity


# --------------------------------------------------------------------------------------------- anticholinergic
@pytest.mark.parametrize("age, severity", [(64, "info"), (65, "warning")])
def test_acb_total_of_3_is_a_warning_in_an_older_adult_and_a_note_below_65(check, age, severity):
    outcome = check(patient(age=age, crcl=90), line("amitriptyline", 10, MG, "qHS"))
    assert outcome.severity("anticholinergic.acb_total") == severity


def test_acb_below_3_is_quiet(check):
    outcome = check(patient(age=80, crcl=90), line("cyclobenzaprine", 5, MG, "TID"))
    assert outcome.derived["burden"]["anticholinergic"] == 2
    assert "anticholinergic.acb_total" not in outcome.codes()


# ------------------------------------------------------------------------------------------------ serotonergic
def test_tramadol_with_an_ssri_is_a_serotonin_warning(check):
    outcome = check(patient(**ADULT, meds=(line("sertraline", 100, MG, "daily"),)),
                    line("tramadol", 50, MG, "q6h"))
    assert outcome.severity("serotonergic.combination") == "warning"


def test_an_snri_with_a_low_dose_tca_is_only_noted(check):
    outcome = check(patient(**ADULT), line("duloxetine", 60, MG, "daily"), line("amitriptyline", 10, MG, "qHS"))
    assert outcome.severity("serotonergic.combination") == "info"


@pytest.mark.parametrize("triptan", ["sumatriptan", "rizatriptan"])
def test_tramadol_with_a_triptan_is_a_serotonin_note(check, triptan):
    # triptans are named among serotonergic drugs (duloxetine label 5.4); a weak partner: noted, not an alarm
    outcome = check(patient(**ADULT, meds=(line(triptan, 50 if triptan == "sumatriptan" else 10, MG, "once",
                                                prn=True),)),
                    line("tramadol", 50, MG, "q6h"))
    assert outcome.severity("serotonergic.combination") == "info"
    assert "unresolved.drug" not in outcome.codes()


# ---------------------------------------------------------------------------------------------------------- qt
def test_methadone_with_citalopram_prolongs_qt(check):
    outcome = check(patient(**ADULT, meds=(line("citalopram", 20, MG, "daily"),)), line("methadone", 5, MG, "TID"))
    assert outcome.severity("qt.combination") == "warning"


def test_methadone_in_long_qt_is_critical(check):
    outcome = check(patient(**ADULT, conditions=("long_qt",)), line("methadone", 5, MG, "TID"))
    assert outcome.severity("qt.long_qt") == "critical"


# ------------------------------------------------------------------------------------------------------- dose
@pytest.mark.parametrize("daily, flagged", [(4000, False), (4001, True)])
def test_acetaminophen_above_4000_mg_a_day_is_critical(check, daily, flagged):
    outcome = check(patient(**ADULT), line("acetaminophen", daily, MG, {"timesPerDay": 1}))
    assert (outcome.severity("dose.acetaminophen_total") == "critical") is flagged
    assert outcome.derived["acetaminophenRemainingMgPerDay"] == max(0, 4000 - daily)


def test_acetaminophen_counts_across_combination_prn_and_otc_products(check):
    outcome = check(patient(**ADULT, meds=(line("Tylenol 500 mg", 2, "tablet", "q6h"),)),
                    line("Norco 10/325", 1, "tablet", "q4-6h", prn=True))
    # 4 x 1000 mg + 6 x 325 mg: the most frequent reading of q4-6h counts
    assert outcome.derived["acetaminophenMgPerDay"] == 5950
    assert outcome.severity("dose.acetaminophen_total") == "critical"
    assert "duplication.acetaminophen_products" in outcome.codes()


def test_a_prn_maximum_decides_the_daily_amount(check):
    outcome = check(patient(**ADULT), line("acetaminophen", 650, MG, "q4h", prn=True, max_daily=3000))
    assert outcome.derived["acetaminophenMgPerDay"] == 3000
    assert "dose.acetaminophen_total" not in outcome.codes()


@pytest.mark.parametrize("per_dose, flagged", [(800, False), (1000, True)])
def test_ibuprofen_above_3200_mg_a_day(check, per_dose, flagged):
    outcome = check(patient(**ADULT), line("ibuprofen", per_dose, MG, "QID"))
    assert ("dose.max_daily" in outcome.codes()) is flagged


@pytest.mark.parametrize("age, flagged", [(75, False), (76, True)])
def test_tramadol_above_300_mg_a_day_over_age_75(check, age, flagged):
    outcome = check(patient(age=age, crcl=90), line("tramadol", 100, MG, "QID"), line("senna", 8.6, MG, "qHS"))
    assert ("dose.older_adult_max" in outcome.codes()) is flagged


def test_citalopram_above_20_mg_over_age_60(check):
    assert check(patient(age=61, crcl=90), line("citalopram", 40, MG, "daily")).severity(
        "dose.older_adult_max") == "warning"
    assert "dose.older_adult_max" not in check(patient(age=60, crcl=90), line("citalopram", 40, MG, "daily")).codes()


# ------------------------------------------------------------------------------------------------------ opioid
@pytest.mark.parametrize("daily, code", [(49, None), (50, "opioid.mme_50"), (89, "opioid.mme_50"),
                                         (90, "opioid.mme_90")])
def test_mme_thresholds_at_50_and_90(check, daily, code):
    outcome = check(patient(**ADULT), line("hydrocodone", daily, MG, {"timesPerDay": 1}),
                    line("senna", 8.6, MG, "qHS"))
    assert outcome.derived["mmePerDay"] == daily
    found = outcome.codes() & {"opioid.mme_50", "opioid.mme_90"}
    assert found == ({code} if code else set())


def test_mme_uses_the_cdc_2022_factor_for_each_opioid(check):
    assert check(patient(**ADULT), line("oxycodone", 10, MG, "q6h")).derived["mmePerDay"] == 60
    assert check(patient(**ADULT), line("methadone", 10, MG, "TID")).derived["mmePerDay"] == 141
    assert check(patient(**ADULT), line("tapentadol", 50, MG, "q6h")).derived["mmePerDay"] == 80


def test_a_fentanyl_patch_counts_mcg_per_hour_times_2_4(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("oxycodone", 5, MG, "q6h"),)),
                    line("fentanyl 25 mcg/hr patch", 1, "patch", "q72h"))
    assert outcome.derived["mmePerDay"] == 60 + 30  # 25 x 2.4 + oxycodone 20 mg x 1.5


def test_each_line_shows_its_mme(check):
    outcome = check(patient(**ADULT), line("Percocet 5/325", 1, "tablet", "q6h"))
    shares = outcome.derived["lines"][0]["ingredients"]
    assert {s["name"]: s.get("mmePerDay") for s in shares} == {"acetaminophen": None, "oxycodone": 30}


def test_buprenorphine_is_left_out_of_mme_and_that_is_said(check):
    outcome = check(patient(**ADULT), line("buprenorphine", 8, MG, "daily", route="sublingual"))
    assert outcome.severity("opioid.mme_incomplete") == "info"
    assert "buprenorphine" in outcome.finding("opioid.mme_incomplete").detail


def test_naloxone_is_offered_at_50_mme(check):
    outcome = check(patient(**ADULT), line("oxycodone", 10, MG, "q6h"))
    assert outcome.severity("opioid.naloxone") == "warning"
    covered = check(patient(**ADULT, meds=(line("naloxone", 4, MG, "once", prn=True),)),
                    line("oxycodone", 10, MG, "q6h"))
    assert "opioid.naloxone" not in covered.codes()


def test_naloxone_is_offered_with_a_benzodiazepine_at_any_dose(check):
    outcome = check(patient(**ADULT, meds=(line("lorazepam", 1, MG, "qHS"),)), line("tramadol", 50, MG, "q12h"))
    assert "opioid.naloxone" in outcome.codes()


def test_er_la_opioid_for_acute_pain_is_critical(check):
    outcome = check(patient(**ADULT, pain="acute"), line("OxyContin 10", 1, "tablet", "q12h"))
    assert outcome.severity("opioid.er_la_acute") == "critical"


def test_er_la_opioid_for_an_opioid_naive_patient_is_a_warning(check):
    outcome = check(patient(**ADULT, pain="chronic"), line("morphine ER 15 mg", 1, "tablet", "q12h"))
    assert outcome.severity("opioid.er_la_acute") == "warning"


def test_continuing_the_patients_own_er_opioid_is_not_a_new_start(check):
    own = line("morphine ER 15 mg", 1, "tablet", "q12h")
    outcome = check(patient(**ADULT, pain="chronic", meds=(own,)), line("morphine ER 15 mg", 1, "tablet", "q12h"))
    assert "opioid.er_la_acute" not in outcome.codes()
    assert outcome.derived["continued"] == ["patient.medications[0]"]


@pytest.mark.parametrize("days, flagged", [(7, False), (8, True)])
def test_acute_pain_opioid_supply_over_7_days(check, days, flagged):
    outcome = check(patient(**ADULT, pain="acute"), line("oxycodone", 5, MG, "q6h", days=days))
    assert ("opioid.acute_duration" in outcome.codes()) is flagged


def test_a_fentanyl_patch_for_a_patient_on_no_opioid_is_contraindicated_by_its_label(check):
    # DURAGESIC 4 Contraindications: opioid non-tolerant patients (and its Boxed Warning)
    outcome = check(patient(**ADULT, pain="chronic"), line("fentanyl 25 mcg/hr patch", 25, "mcg/h", "q72h",
                                                           route="transdermal"))
    finding = outcome.finding("opioid.er_la_acute")
    assert finding.severity == "critical"
    assert "opioid-tolerant" in finding.summary
    assert any("DURAGESIC" in e.citation for e in finding.evidence)


def test_a_fentanyl_patch_for_a_patient_already_on_an_opioid_is_not_the_contraindication(check):
    own = line("oxycodone 10 mg", 10, "mg", "q6h")
    outcome = check(patient(**ADULT, pain="chronic", meds=(own,)),
                    line("fentanyl 25 mcg/hr patch", 25, "mcg/h", "q72h", route="transdermal"))
    assert "opioid.er_la_acute" not in outcome.codes()


def test_an_er_oral_opioid_without_a_tolerance_contraindication_stays_the_cdc_warning(check):
    outcome = check(patient(**ADULT, pain="chronic"), line("morphine ER 15 mg", 1, "tablet", "q12h"))
    assert outcome.severity("opioid.er_la_acute") == "warning"
