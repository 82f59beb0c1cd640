"""Kidneys, gut and blood, at their published thresholds."""
import pytest

from tests.unit.clinical import RXNORM, line, patient

MG = "mg"


# ------------------------------------------------------------------------------------------------------- renal
@pytest.mark.parametrize("crcl, flagged", [(29, True), (29.9, True), (30, False), (31, False)])
def test_nsaid_is_avoided_below_crcl_30(check, crcl, flagged):
    outcome = check(patient(age=60, crcl=crcl), line("ibuprofen", 400, MG, "TID"))
    assert (outcome.severity("renal.nsaid.avoid") == "critical") is flagged
    if flagged:
        assert f"{crcl:g}" in outcome.finding("renal.nsaid.avoid").summary


def test_an_avoided_drug_names_the_band_the_patient_is_in_as_the_knowledge_base_writes_it(check):
    nsaid = check(patient(age=60, crcl=23.5), line("ibuprofen", 400, MG, "TID")).finding("renal.nsaid.avoid")
    assert nsaid.summary == "Avoid ibuprofen: CrCl 23.5 mL/min (band: CrCl < 30 mL/min)"
    snri = check(patient(age=50, crcl=29), line("duloxetine", 60, MG, "daily")).finding("renal.duloxetine.avoid")
    assert snri.summary.endswith("(band: CrCl < 30 mL/min)")


def test_on_dialysis_an_avoided_drug_names_no_crcl_band(check):
    outcome = check(patient(age=60, crcl=8, conditions=("dialysis",)), line("ibuprofen", 400, MG, "TID"))
    assert outcome.finding("renal.nsaid.avoid").summary == "Avoid ibuprofen: on dialysis"


def test_crcl_comes_from_cockcroft_gault_with_actual_body_weight(check):
    outcome = check(patient(age=78, sex="female", weight=61, scr=1.9), line("acetaminophen", 500, MG, "q6h"))
    # (140 - 78) x 61 / (72 x 1.9) x 0.85 = 23.5
    assert outcome.derived["crclMlMin"] == pytest.approx(23.5, abs=0.05)
    assert outcome.derived["renalBasis"] == "cockcroft-gault"


def test_a_man_has_no_0_85_factor(check):
    outcome = check(patient(age=40, sex="male", weight=72, scr=1.0), line("acetaminophen", 500, MG, "q6h"))
    assert outcome.derived["crclMlMin"] == pytest.approx(100.0)


def test_egfr_is_used_when_no_creatinine_is_given_and_says_so(check):
    outcome = check(patient(age=60, egfr=25), line("naproxen", 250, MG, "BID"))
    assert outcome.derived["renalBasis"] == "egfr"
    assert "eGFR" in outcome.finding("renal.nsaid.avoid").detail


def test_missing_kidney_values_are_said_not_guessed(check):
    outcome = check(patient(age=60), line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("renal.value_missing") == "info"
    assert outcome.derived["crclMlMin"] is None
    assert "renal.nsaid.avoid" not in outcome.codes()


def test_no_missing_value_note_for_a_drug_without_renal_limits(check):
    assert "renal.value_missing" not in check(patient(age=60), line("sertraline", 50, MG, "daily")).codes()


@pytest.mark.parametrize("crcl, daily, flagged", [
    (45, 900, False),    # 30-59: up to 1400 mg/day
    (45, 1800, True),
    (25, 600, False),    # 15-29: up to 700 mg/day
    (25, 900, True),
    (70, 3600, False),   # normal kidneys: no renal limit below the general maximum
])
def test_gabapentin_is_cut_by_crcl_band(check, crcl, daily, flagged):
    outcome = check(patient(age=50, crcl=crcl), line("gabapentin", daily / 3, MG, "TID"))
    assert (outcome.severity("renal.gabapentin.reduce") == "warning") is flagged


@pytest.mark.parametrize("crcl, flagged", [(29, True), (31, False)])
def test_duloxetine_is_avoided_below_crcl_30(check, crcl, flagged):
    outcome = check(patient(age=50, crcl=crcl), line("duloxetine", 60, MG, "daily"))
    assert ("renal.duloxetine.avoid" in outcome.alerts()) is flagged


@pytest.mark.parametrize("crcl, flagged", [(29, True), (31, False)])
def test_immediate_release_tramadol_every_6_hours_is_spaced_to_12_below_crcl_30(check, crcl, flagged):
    outcome = check(patient(age=50, crcl=crcl), line("tramadol", 50, MG, "q6h"))
    assert ("renal.tramadol.reduce" in outcome.codes()) is flagged


def test_extended_release_tramadol_is_avoided_below_crcl_30_but_immediate_release_is_capped(check):
    er = check(patient(age=50, crcl=25), line("tramadol ER 100 mg", 1, "tablet", "daily"))
    assert er.severity("renal.tramadol.avoid") == "critical"
    ir_ok = check(patient(age=50, crcl=25), line("tramadol", 50, MG, "q12h"))
    assert "renal.tramadol.reduce" not in ir_ok.codes()
    ir_often = check(patient(age=50, crcl=25), line("tramadol", 50, MG, "q6h", days=3))
    # 200 mg/day is within the CrCl < 30 maximum, but the label also asks for every 12 hours
    assert ir_often.severity("renal.tramadol.reduce") == "warning"
    assert "every 12 h" in ir_often.finding("renal.tramadol.reduce").summary
    ir_over = check(patient(age=50, crcl=25), line("tramadol", 100, MG, "q8h"))
    assert ir_over.severity("renal.tramadol.reduce") == "warning"


def test_dialysis_applies_dialysis_bands_and_end_stage_limits(check):
    outcome = check(patient(age=60, conditions=("dialysis",)), line("ibuprofen", 200, MG, "TID"))
    assert outcome.derived["renalBasis"] == "dialysis"
    assert outcome.severity("renal.nsaid.avoid") == "critical"


# ---------------------------------------------------------------------------------------------------------- gi
def test_nsaid_with_ulcer_history_and_no_ppi_is_critical(check):
    outcome = check(patient(age=50, crcl=90, conditions=("peptic_ulcer",)), line("naproxen", 500, MG, "BID"))
    assert outcome.severity("gi.nsaid_ulcer_history") == "critical"


def test_nsaid_with_ulcer_history_and_a_ppi_is_a_warning(check):
    outcome = check(patient(age=50, crcl=90, conditions=("gi_bleed",)), line("naproxen", 500, MG, "BID"),
                    line("omeprazole", 20, MG, "daily"))
    assert outcome.severity("gi.nsaid_ulcer_history") == "warning"


@pytest.mark.parametrize("partner", ["prednisone", "sertraline", "duloxetine"])
def test_nsaid_with_a_steroid_or_ssri_snri_needs_gastroprotection(check, partner):
    who = patient(age=50, crcl=90)
    unprotected = check(who, line("ibuprofen", 400, MG, "TID"), line(partner, 20, MG, "daily"))
    protected = check(who, line("ibuprofen", 400, MG, "TID"), line(partner, 20, MG, "daily"),
                      line("pantoprazole", 40, MG, "daily"))
    code = "gi.nsaid_corticosteroid" if partner == "prednisone" else "gi.nsaid_ssri_snri"
    assert unprotected.severity(code) == "warning"
    assert protected.severity(code) == "info"


@pytest.mark.parametrize("age, severity", [(64, None), (65, "info"), (74, "info"), (75, "warning"), (80, "warning")])
def test_older_age_without_gastroprotection(check, age, severity):
    outcome = check(patient(age=age, crcl=90), line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("gi.nsaid_older_adult") == severity


@pytest.mark.parametrize("pain, days, severity", [
    (None, 14, "info"), ("acute", 90, "info"), (None, 91, "warning"), ("chronic", None, "warning")])
def test_chronic_nsaid_use_without_gastroprotection_is_avoided_from_65(check, pain, days, severity):
    # Beers 2023 Table 2: avoid chronic use unless a gastroprotective agent is taken; chronic = > 3 months (CDC 2022)
    outcome = check(patient(age=70, crcl=90, pain=pain), line("ibuprofen", 400, MG, "TID", days=days))
    assert outcome.severity("gi.nsaid_older_adult") == severity


def test_older_age_with_a_ppi_is_quiet(check):
    outcome = check(patient(age=80, crcl=90), line("ibuprofen", 400, MG, "TID"), line("omeprazole", 20, MG, "daily"))
    assert "gi.nsaid_older_adult" not in outcome.codes()
    # Beers 2023 excepts PPIs taken for chronic NSAID (or corticosteroid) use: the advised PPI is not flagged
    assert "geriatric.beers.omeprazole" not in outcome.codes()


def test_a_ppi_without_an_nsaid_or_steroid_keeps_its_beers_note_in_older_adults(check):
    outcome = check(patient(age=80, crcl=90), line("omeprazole", 20, MG, "daily"))
    assert outcome.severity("geriatric.beers.omeprazole") == "info"


def test_topical_diclofenac_is_not_an_oral_nsaid(check):
    who = patient(age=80, crcl=20, conditions=("peptic_ulcer",),
                  meds=(line("warfarin", 5, MG, "daily"),))
    outcome = check(who, line("diclofenac 1% gel", 4, "tablet", "QID", route="topical"))
    assert not outcome.categories() & {"renal", "gi", "bleeding"}
    assert outcome.alerts() == set()


# ---------------------------------------------------------------------------------------------------- bleeding
@pytest.mark.parametrize("anticoagulant", ["warfarin", "apixaban", "rivaroxaban", "dabigatran", "enoxaparin"])
def test_anticoagulant_with_an_nsaid_is_critical(check, anticoagulant):
    who = patient(age=60, crcl=90, meds=(line(anticoagulant, 5, MG, "daily"),))
    outcome = check(who, line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("bleeding.anticoagulant_nsaid") == "critical"


def test_a_doac_with_an_nsaid_cites_beers_not_the_warfarin_label(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("apixaban", 5, MG, "BID"),)), line("ibuprofen", 400, MG, "TID"))
    cited = " ".join(e.citation for e in outcome.finding("bleeding.anticoagulant_nsaid").evidence)
    assert "Beers" in cited and "Warfarin" not in cited


def test_two_anticoagulants_are_one_critical_bleeding_finding_not_also_a_duplicate(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("warfarin", 5, MG, "daily"),)), line("apixaban", 5, MG, "BID"))
    assert outcome.severity("bleeding.two_anticoagulants") == "critical"
    assert "duplication.anticoagulant" not in outcome.codes()


def test_anticoagulant_with_low_dose_aspirin_is_a_warning_not_an_nsaid_alarm(check):
    who = patient(age=60, crcl=90, meds=(line("apixaban", 5, MG, "BID"),))
    outcome = check(who, line("aspirin", 81, MG, "daily"))
    assert outcome.severity("bleeding.anticoagulant_antiplatelet") == "warning"
    assert "bleeding.anticoagulant_nsaid" not in outcome.codes()


def test_analgesic_dose_aspirin_counts_as_an_nsaid(check):
    outcome = check(patient(age=60, crcl=90), line("aspirin", 650, MG, "q6h"), line("ibuprofen", 400, MG, "TID"))
    assert "duplication.nsaid" in outcome.codes()


def test_aspirin_is_an_nsaid_above_325_mg_a_day_and_not_at_it(check):
    """Beers 2023 Table 2: aspirin >325 mg/day is listed with the NSAIDs (the edge is data: dose_dependent_classes)."""
    at_edge = check(patient(age=60, crcl=90), line("aspirin", 325, MG, "daily"), line("ibuprofen", 400, MG, "TID"))
    above = check(patient(age=60, crcl=90), line("aspirin", 650, MG, "daily"), line("ibuprofen", 400, MG, "TID"))
    assert "duplication.nsaid" not in at_edge.codes() and "duplication.nsaid" in above.codes()


def test_low_dose_aspirin_with_ibuprofen_is_an_antiplatelet_interaction(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("aspirin", 81, MG, "daily"),)),
                    line("ibuprofen", 400, MG, "TID"))
    finding = outcome.finding("bleeding.antiplatelet_nsaid")
    assert finding.severity == "warning" and "blunt" in finding.detail
    assert "duplication.nsaid" not in outcome.codes()


def test_anticoagulant_with_an_ssri_is_a_warning(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("warfarin", 5, MG, "daily"),)),
                    line("sertraline", 50, MG, "daily"))
    assert outcome.severity("bleeding.anticoagulant_ssri_snri") == "warning"


def test_two_anticoagulants_are_critical(check):
    outcome = check(patient(age=60, crcl=90, meds=(line("warfarin", 5, MG, "daily"),)),
                    line("apixaban", 5, MG, "BID"))
    assert outcome.severity("bleeding.two_anticoagulants") == "critical"


@pytest.mark.parametrize("daily, flagged", [(2000, False), (2001, True), (4000, True)])
def test_warfarin_with_acetaminophen_above_2_g_a_day(check, daily, flagged):
    outcome = check(patient(age=60, crcl=90, meds=(line("warfarin", 5, MG, "daily"),)),
                    line("acetaminophen", daily, MG, {"timesPerDay": 1}))
    assert ("bleeding.warfarin_acetaminophen" in outcome.codes()) is flagged


def test_a_coded_medication_counts_like_a_named_one(check):
    warfarin_5mg = {"system": RXNORM, "code": "855332"}
    outcome = check(patient(age=60, crcl=90, meds=(line(warfarin_5mg, 1, "tablet", "daily"),)),
                    line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("bleeding.anticoagulant_nsaid") == "critical"
