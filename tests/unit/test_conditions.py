"""Conditions as EHRs record them: value-set codes, display text as a careful fallback, and history that counts only
where history is the point."""
import json
from pathlib import Path

import pytest

from stewardship.conditions import match_text, normalise, understand
from tests.unit.clinical import line, patient

MG = "mg"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SYNTHEA = Path(__file__).parent.parent / "fixtures" / "synthea-10-patients" / "Condition.ndjson"


def coded(system: str, code: str, display: str | None = None, status: str = "active") -> dict:
    return {"codings": [{"system": system, "code": code, "display": display}], "status": status}


# ---------------------------------------------------------------------------------------------- codes and value sets
@pytest.mark.parametrize("system, code, keyword", [
    (SNOMED, "13200003", "peptic_ulcer"),          # Peptic ulcer: the general concept EHRs use
    (SNOMED, "105502003", "dialysis"),             # Dependence on renal dialysis
    (SNOMED, "196682000", "peptic_ulcer"),         # Acute peptic ulcer (VSAC Acute Peptic Ulcer)
    (SNOMED, "78275009", "sleep_apnea"),           # Obstructive sleep apnea syndrome (CDC sleep-disordered breathing)
    (ICD10CM, "G47.33", "sleep_apnea"),
    (SNOMED, "1912002", "falls"),                  # Fall (event), VSAC Inpatient Falls
    (ICD10CM, "W19.XXXA", "falls"),
    (ICD10CM, "F11.20", "opioid_use_disorder"),
    (ICD10CM, "O09.00", "pregnancy"),              # VSAC Pregnancy
    (ICD10CM, "K72.90", "hepatic_impairment"),     # VSAC Liver Disease Moderate to Severe
    (ICD10CM, "R33.9", "urinary_retention"),
    (ICD10CM, "k25.9", "peptic_ulcer"),            # ICD-10-CM K25 Gastric ulcer, lower case and dotted
    (ICD10CM, "K259", "peptic_ulcer"),             # and without the dot
])
def test_a_value_set_code_means_its_keyword(kb, system, code, keyword):
    assert keyword in kb.condition_keywords(system, code)


def test_a_broad_value_set_is_taken_only_within_the_icd10_category_that_means_the_keyword(kb):
    # The CDC sleep-disordered-breathing set also lists narcolepsy (G47.4-): narcolepsy is not sleep apnea.
    assert kb.condition_keywords(ICD10CM, "G47.419") == ()
    assert kb.condition_keywords(ICD10CM, "G47.31") == ("sleep_apnea",)


def test_delirium_is_not_dementia_though_the_dementia_value_set_lists_it(kb):
    # VSAC "Dementia and Mental Degenerations" carries F05 (delirium due to a known physiological condition); Beers
    # 2023 Table 3 keeps delirium and dementia/cognitive impairment as separate rows.
    assert kb.condition_keywords(ICD10CM, "F05") == ()
    assert kb.condition_keywords(ICD10CM, "F06.8") == ()
    assert kb.condition_keywords(ICD10CM, "G31.84") == ("dementia",)  # mild cognitive impairment
    assert kb.condition_keywords(ICD10CM, "F03.90") == ("dementia",)


def test_condition_coded_13200003_is_a_peptic_ulcer(check):
    outcome = check(patient(age=50, crcl=90, conditions=(coded(SNOMED, "13200003", "Peptic ulcer"),)),
                    line("naproxen", 500, MG, "BID"))
    assert "gi.nsaid_ulcer_history" in outcome.codes()
    assert outcome.derived["conditionsUnderstood"] == [
        {"input": "patient.conditions[0]", "keywords": ["peptic_ulcer"], "status": "active", "matchedBy": "code"}]


def test_dependence_on_renal_dialysis_is_dialysis_and_ckd(check):
    outcome = check(patient(age=60, conditions=({"system": SNOMED, "code": "105502003"},)),
                    line("acetaminophen", 500, MG, "q6h"))
    assert {"dialysis", "ckd"} <= set(outcome.derived["conditions"])
    assert outcome.derived["renalBasis"] == "dialysis"


# --------------------------------------------------------------------------------------------------------- text
@pytest.mark.parametrize("text, keywords, history", [
    ("History of gastric ulcer", ("peptic_ulcer",), True),
    ("peptic ulcer disease", ("peptic_ulcer",), False),
    ("h/o PUD", ("peptic_ulcer",), True),
    ("Peptic ulcer (disorder)", ("peptic_ulcer",), False),
    ("Chronic kidney disease stage 3 (disorder)", ("ckd",), False),
    ("Obstructive sleep apnoea", ("sleep_apnea",), False),          # British spelling
    ("Gastrointestinal haemorrhage", ("gi_bleed",), False),
    ("History of falls", ("falls",), True),
    ("Opioid dependence, uncomplicated", ("opioid_use_disorder",), False),  # an ICD-10-CM title from a value set
])
def test_a_display_text_names_a_condition_as_a_whole_phrase(kb, text, keywords, history):
    assert match_text(text, kb) == (keywords, history)


@pytest.mark.parametrize("text", [
    "No history of ulcer", "no peptic ulcer disease", "Family history of peptic ulcer", "ruled out GI bleed",
    "Suspected cirrhosis", "possible sleep apnea", "denies alcohol abuse", "Screening for depression",
    "ulcer",                                   # a skin or corneal ulcer is not a peptic ulcer
    "History of single seizure (situation)",   # one seizure is not a seizure disorder
    "Prediabetes", "Narcolepsy", "peptic ulcer disease and gout", "", "   ",
])
def test_text_that_negates_doubts_or_says_something_else_is_not_a_condition(kb, text):
    assert match_text(text, kb) is None


def test_normalisation_keeps_words_and_drops_the_semantic_tag():
    assert normalise("  Alzheimer's disease (disorder) ") == "alzheimer s disease"
    assert normalise("Haemorrhage of rectum") == "hemorrhage of rectum"


def test_display_history_of_gastric_ulcer_with_an_unknown_code_is_ulcer_history_matched_from_text(check):
    condition = coded(SNOMED, "999999999", "History of gastric ulcer")
    outcome = check(patient(age=50, crcl=90, conditions=(condition,)), line("naproxen", 500, MG, "BID"))
    assert "gi.nsaid_ulcer_history" in outcome.codes()
    assert outcome.derived["conditionsUnderstood"] == [
        {"input": "patient.conditions[0]", "keywords": ["peptic_ulcer"], "status": "history", "matchedBy": "text",
         "text": "History of gastric ulcer"}]
    note = outcome.finding("unresolved.condition_text")
    assert note.severity == "info" and "History of gastric ulcer" in note.detail and "history" in note.detail
    assert "unresolved.condition" not in outcome.codes()


def test_no_history_of_ulcer_is_not_an_ulcer(check):
    outcome = check(patient(age=50, crcl=90, conditions=({"text": "No history of ulcer", "status": "active"},)),
                    line("naproxen", 500, MG, "BID"))
    assert "gi.nsaid_ulcer_history" not in outcome.codes()
    assert outcome.severity("unresolved.condition") == "info"
    assert "No history of ulcer" in outcome.finding("unresolved.condition").detail


def test_a_known_code_wins_over_its_text(kb):
    found = understand(0, coded(SNOMED, "38341003", "History of gastric ulcer"), kb)
    assert found.keywords == ("hypertension",) and found.matched_by == "code"


# ------------------------------------------------------------------------------------------------------- status
def test_a_resolved_peptic_ulcer_still_counts_as_ulcer_history_for_nsaids(check):
    outcome = check(patient(age=50, crcl=90, conditions=({"keyword": "peptic_ulcer", "status": "resolved"},)),
                    line("naproxen", 500, MG, "BID"))
    assert outcome.severity("gi.nsaid_ulcer_history") in ("warning", "critical")


def test_resolved_heart_failure_does_not_raise_the_heart_failure_nsaid_finding(check):
    resolved = check(patient(age=60, crcl=90, conditions=({"keyword": "heart_failure", "status": "resolved"},)),
                     line("naproxen", 250, MG, "BID"))
    active = check(patient(age=60, crcl=90, conditions=({"keyword": "heart_failure", "status": "active"},)),
                   line("naproxen", 250, MG, "BID"))
    assert "drug_disease.heart_failure.naproxen" not in resolved.codes()
    assert "heart_failure" not in resolved.derived["conditions"]
    assert resolved.derived["conditionsUnderstood"][0]["status"] == "history"
    assert active.severity("drug_disease.heart_failure.naproxen") == "warning"


def test_opioid_use_disorder_in_remission_still_calls_for_naloxone(check):
    outcome = check(patient(age=45, crcl=90, conditions=(coded(ICD10CM, "F11.20", status="remission"),)),
                    line("oxycodone", 5, MG, "q6h", prn=True))
    assert "opioid.naloxone" in outcome.codes()
    assert "opioid_use_disorder" in outcome.derived["conditions"]


def test_a_resolved_pregnancy_is_not_a_pregnancy(check):
    outcome = check(patient(age=30, crcl=100, conditions=({"keyword": "pregnancy", "status": "resolved"},)),
                    line("ibuprofen", 400, MG, "TID"))
    assert not {c for c in outcome.codes() if c.startswith("drug_disease.nsaid_pregnancy")}


# ------------------------------------------------------------------------------------------------------- Synthea
def test_synthea_conditions_map_where_they_are_conditions_the_rules_use(kb):
    """Every Synthea sample condition that is one of ours maps by code; the rest (sinusitis, prediabetes, a single
    seizure, a miscarriage, a fracture ...) map to nothing, neither by code nor by text."""
    mapped = {}
    for raw in SYNTHEA.read_text().splitlines():
        resource = json.loads(raw)
        coding = resource["code"]["coding"][0]
        found = understand(0, {"codings": [coding], "text": resource["code"].get("text")}, kb)
        if found:
            mapped[coding["code"]] = (found.keywords, found.matched_by)
    assert mapped["38341003"] == (("hypertension",), "code")
    assert mapped["88805009"] == (("heart_failure",), "code")
    assert mapped["26929004"] == (("dementia",), "code")
    assert {"15777000", "703151001", "19169002", "65966004", "444814009"}.isdisjoint(mapped)
    assert all(how == "code" for _, how in mapped.values())
    assert len(mapped) == 13
