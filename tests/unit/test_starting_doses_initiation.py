"""A starting dose is about starting a drug (issue 12): a label's "start the opioid-naive patient with the 5 mg dose"
or "initiate with one-fourth to one-half the usual starting dose" speaks to a regimen line that starts the drug, not to
a patient already on it (contract 2.1: a regimen line for the same ingredient and route as a medication line is a
continuation or a dose change). Facts of that kind carry `applies_to: initiation` in drugdata/."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
OPANA_ER = "oxymorphone hydrochloride 10 MG 12HR Extended Release Oral Tablet"


def already_on(*meds: dict, crcl: float = 90, conditions: tuple = (), child_pugh: str | None = None):
    return patient(age=60, crcl=crcl, conditions=conditions, child_pugh=child_pugh, meds=meds)


@pytest.mark.parametrize("crcl, flagged", [(49, True), (50, False)])
def test_opana_er_started_below_crcl_50_is_a_reduce_finding_and_quiet_at_50(check, crcl, flagged):
    outcome = check(patient(age=60, crcl=crcl), line(OPANA_ER, 1, "tablet", "q12h"))
    assert (outcome.severity("renal.oxymorphone.reduce") == "warning") is flagged


def test_opana_er_continued_at_crcl_40_by_a_patient_already_on_it_is_quiet(check):
    outcome = check(already_on(line(OPANA_ER, 1, "tablet", "q12h"), crcl=40), line(OPANA_ER, 1, "tablet", "q12h"))
    assert not [c for c in outcome.codes() if c.startswith("renal.oxymorphone")]


def test_opana_er_taken_already_and_not_reordered_at_crcl_40_is_quiet(check):
    outcome = check(already_on(line(OPANA_ER, 1, "tablet", "q12h"), crcl=40), line("acetaminophen", 500, MG, "q6h"))
    assert not [c for c in outcome.codes() if c.startswith("renal.oxymorphone")]


def test_a_dose_increase_of_opana_er_at_crcl_40_is_titration_not_a_start(check):
    outcome = check(already_on(line(OPANA_ER, 1, "tablet", "q12h"), crcl=40),
                    line("oxymorphone hydrochloride 20 MG 12HR Extended Release Oral Tablet", 1, "tablet", "q12h"))
    assert not [c for c in outcome.codes() if c.startswith("renal.oxymorphone")]


def test_opana_er_started_in_a_patient_on_immediate_release_oxymorphone_starts_the_er_product(check):
    outcome = check(already_on(line("oxymorphone", 5, MG, "q6h"), crcl=40), line(OPANA_ER, 1, "tablet", "q12h"))
    assert outcome.severity("renal.oxymorphone.reduce") == "warning"


def test_opana_er_started_in_mild_hepatic_impairment_starts_lower_and_continued_is_quiet(check):
    started = check(patient(age=60, crcl=90, conditions=("cirrhosis",), child_pugh="A"),
                    line(OPANA_ER, 1, "tablet", "q12h"))
    continued = check(already_on(line(OPANA_ER, 1, "tablet", "q12h"), conditions=("cirrhosis",), child_pugh="A"),
                      line(OPANA_ER, 1, "tablet", "q12h"))
    assert started.severity("hepatic.oxymorphone.reduce") == "warning"
    assert not [c for c in continued.codes() if c.startswith("hepatic.oxymorphone")]


def test_opana_er_continued_in_moderate_hepatic_impairment_is_still_contraindicated(check):
    outcome = check(already_on(line(OPANA_ER, 1, "tablet", "q12h"), conditions=("cirrhosis",), child_pugh="B"),
                    line(OPANA_ER, 1, "tablet", "q12h"))
    assert outcome.severity("hepatic.oxymorphone.avoid") == "critical"


@pytest.mark.parametrize("drug, dose", [("oxycodone", 5), ("hydromorphone", 2)])
def test_oxycodone_and_hydromorphone_continued_in_liver_disease_say_no_starting_fraction(check, drug, dose):
    outcome = check(already_on(line(drug, dose, MG, "q6h", prn=True), conditions=("cirrhosis",), child_pugh="C"),
                    line(drug, dose, MG, "q6h", prn=True))
    assert f"hepatic.{drug}.caution" not in outcome.codes()


@pytest.mark.parametrize("drug, dose", [("oxycodone", 5), ("hydromorphone", 2)])
def test_oxycodone_and_hydromorphone_continued_at_crcl_40_say_no_starting_fraction(check, drug, dose):
    outcome = check(already_on(line(drug, dose, MG, "q6h", prn=True), crcl=40), line(drug, 2 * dose, MG, "q6h"))
    assert f"renal.{drug}.caution" not in outcome.codes()


def test_a_continued_starting_dose_drug_is_not_reported_as_unchecked_for_kidney_function(check):
    outcome = check(patient(age=60, meds=(line("hydromorphone", 2, MG, "q6h", prn=True),)),
                    line("hydromorphone", 2, MG, "q6h", prn=True))
    assert "renal.value_missing" not in outcome.codes()


def test_morphine_continued_at_crcl_40_still_notes_that_its_metabolites_accumulate(check):
    outcome = check(already_on(line("morphine", 15, MG, "q4h", prn=True), crcl=40),
                    line("morphine", 15, MG, "q4h", prn=True))
    assert outcome.severity("renal.morphine.caution") == "info"
