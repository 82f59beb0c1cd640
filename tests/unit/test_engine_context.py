"""Older adults, diseases, duplicates, what cannot be read, and the quiet cases: no noise on clean regimens."""
import pytest

from stewardship.model import CATEGORIES, SEVERITIES
from tests.unit.clinical import RXNORM, line, patient

MG = "mg"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


# --------------------------------------------------------------------------------------------------- geriatric
@pytest.mark.parametrize("age, flagged", [(64, False), (65, True)])
def test_a_muscle_relaxant_is_a_beers_drug_to_avoid_from_65(check, age, flagged):
    outcome = check(patient(age=age, crcl=90), line("cyclobenzaprine", 5, MG, "TID"))
    assert (outcome.severity("geriatric.beers.cyclobenzaprine") == "warning") is flagged


def test_beers_use_with_caution_is_information(check):
    outcome = check(patient(age=70, crcl=90), line("sertraline", 50, MG, "daily"))
    assert outcome.severity("geriatric.beers.sertraline") == "info"


def test_meperidine_is_avoided_in_older_adults(check):
    outcome = check(patient(age=70, crcl=90), line("meperidine", 50, MG, "q6h"))
    assert outcome.severity("geriatric.beers.meperidine") == "warning"


# ------------------------------------------------------------------------------------------------ drug_disease
def test_nsaid_in_heart_failure(check):
    outcome = check(patient(age=60, crcl=90, conditions=("heart_failure",)), line("naproxen", 250, MG, "BID"))
    assert outcome.severity("drug_disease.heart_failure.naproxen") == "warning"


def test_gabapentin_with_a_history_of_falls(check):
    outcome = check(patient(age=70, crcl=90, conditions=("falls",)), line("gabapentin", 300, MG, "TID"))
    assert "drug_disease.falls.gabapentin" in outcome.alerts()


def test_tramadol_lowers_the_seizure_threshold(check):
    outcome = check(patient(**{"age": 40, "crcl": 90}, conditions=("seizure_disorder",)),
                    line("tramadol", 50, MG, "q6h", days=3))
    assert outcome.severity("drug_disease.seizure_tramadol") == "warning"


@pytest.mark.parametrize("weeks, flagged", [(19, False), (20, True), (32, True)])
def test_nsaids_are_avoided_from_20_weeks_of_pregnancy(check, weeks, flagged):
    outcome = check(patient(age=30, crcl=120, conditions=("pregnancy",), weeks=weeks), line("ibuprofen", 400, MG, "q6h"))
    assert (outcome.severity("drug_disease.nsaid_pregnancy_20_weeks") == "critical") is flagged
    if flagged:  # the FDA communication is the source; the Beers criteria are for older adults
        cited = [e.citation for e in outcome.finding("drug_disease.nsaid_pregnancy_20_weeks").evidence]
        assert all("Beers" not in c for c in cited) and any("FDA" in c for c in cited)


def test_an_nsaid_in_pregnancy_without_gestational_age_asks_for_it(check):
    outcome = check(patient(age=30, crcl=120, conditions=("pregnancy",)), line("naproxen", 250, MG, "BID"))
    assert outcome.severity("drug_disease.nsaid_pregnancy_weeks_unknown") == "warning"
    dated = check(patient(age=30, crcl=120, conditions=("pregnancy",), weeks=12), line("naproxen", 250, MG, "BID"))
    assert not {c for c in dated.codes() if "pregnancy" in c}


def test_conditions_given_as_snomed_or_icd10_codes_count(check):
    ckd4 = {"system": SNOMED, "code": "431857002"}
    ulcer = {"system": ICD10, "code": "K25.7"}
    outcome = check(patient(age=60, crcl=90, conditions=(ckd4, ulcer)), line("naproxen", 250, MG, "BID"))
    assert "gi.nsaid_ulcer_history" in outcome.codes()
    assert "ckd" in outcome.derived["conditions"]


def test_dialysis_implies_ckd(check):
    outcome = check(patient(age=60, conditions=({"system": ICD10, "code": "Z99.2"},)), line("acetaminophen", 500,
                                                                                            MG, "q6h"))
    assert {"dialysis", "ckd"} <= set(outcome.derived["conditions"])


# ------------------------------------------------------------------------------------------------- duplication
def test_two_nsaids_are_a_duplication(check):
    outcome = check(patient(age=50, crcl=90), line("ibuprofen", 400, MG, "TID"), line("naproxen", 250, MG, "BID"))
    assert outcome.severity("duplication.nsaid") == "warning"
    cited = " ".join(e.citation for e in outcome.finding("duplication.nsaid").evidence)
    assert "NSAID class labeling" in cited and "Beers" not in cited  # the NSAID labels, not a CNS-drug table


def test_two_gabapentinoids_are_a_duplication(check):
    outcome = check(patient(age=50, crcl=90, meds=(line("gabapentin", 300, MG, "TID"),)),
                    line("pregabalin", 75, MG, "BID"))
    assert "duplication.gabapentinoid" in outcome.codes()


def test_an_er_opioid_with_an_ir_opioid_for_breakthrough_is_not_a_duplicate(check):
    outcome = check(patient(age=50, crcl=90, pain="chronic", meds=(line("OxyContin 10", 1, "tablet", "q12h"),)),
                    line("oxycodone", 5, MG, "q6h", prn=True), line("senna", 8.6, MG, "qHS"))
    assert not {"duplication.opioid_ir", "duplication.opioid_er_la"} & outcome.codes()


def test_two_immediate_release_opioids_are_a_duplicate(check):
    outcome = check(patient(age=50, crcl=90), line("oxycodone", 5, MG, "q6h"), line("hydromorphone", 2, MG, "q6h"))
    assert "duplication.opioid_ir" in outcome.codes()


def test_a_regimen_line_for_a_current_drug_is_a_dose_change_not_a_duplicate(check):
    outcome = check(patient(age=50, crcl=90, meds=(line("ibuprofen", 400, MG, "TID"),)),
                    line("ibuprofen", 600, MG, "TID"))
    assert not {c for c in outcome.codes() if c.startswith("duplication")}
    assert outcome.derived["lines"][0]["ingredients"][0]["dailyAmount"]["value"] == 1800


# -------------------------------------------------------------------------------------------------- unresolved
def test_an_unknown_drug_is_an_unresolved_warning_never_a_silent_skip(check):
    outcome = check(patient(age=50, crcl=90), line("unicorn tears", 5, MG, "daily"))
    assert outcome.severity("unresolved.drug") == "warning"
    assert outcome.result.resolved[0]["ingredients"] == []


def test_an_unknown_condition_code_is_information(check):
    outcome = check(patient(age=50, crcl=90, conditions=({"system": SNOMED, "code": "999999999"},)),
                    line("acetaminophen", 500, MG, "q6h"))
    assert outcome.severity("unresolved.condition") == "info"


# RxCUIs that no offline source has (drugdata/rxnorm/prescribable/SOURCES.md, "Codes still missing")
UNKNOWN_CODES = ("2563431", "1361048", "197605")


def test_unknown_current_medications_are_said_once_not_once_each(check):
    meds = tuple(line({"system": RXNORM, "code": code}) for code in UNKNOWN_CODES)
    outcome = check(patient(age=50, crcl=90, meds=meds), line("acetaminophen", 500, MG, "q6h"))
    unresolved = [f for f in outcome.findings if f.code == "unresolved.drug"]
    assert len(unresolved) == 1 and unresolved[0].severity == "warning"
    assert "3 current medications" in unresolved[0].summary and "1361048" in unresolved[0].detail


def test_an_unknown_current_medication_is_said_because_it_could_not_be_checked(check):
    outcome = check(patient(age=50, crcl=90, meds=(line({"system": RXNORM, "code": UNKNOWN_CODES[0]}),)),
                    line("acetaminophen", 500, MG, "q6h"))
    assert outcome.severity("unresolved.drug") == "warning"


# ---------------------------------------------------------------------------------------------- no noise
CLEAN = [
    ("acetaminophen in a healthy adult", patient(age=45, sex="male", weight=80, scr=0.9),
     [line("acetaminophen", 500, MG, "q6h")]),
    ("short ibuprofen course in a healthy adult", patient(age=35, crcl=110), [line("ibuprofen", 400, MG, "TID",
                                                                               days=5)]),
    ("topical diclofenac in an older adult with CKD", patient(age=80, crcl=25, conditions=("ckd",)),
     [line("diclofenac 1% gel", 4, "tablet", "QID", route="topical")]),
    ("lidocaine patch", patient(age=70, crcl=40), [line("lidocaine 5% patch", 1, "patch", "daily")]),
    ("duloxetine for neuropathic pain", patient(age=50, crcl=90), [line("duloxetine", 60, MG, "daily")]),
    ("gabapentin dosed for CrCl 45", patient(age=55, crcl=45), [line("gabapentin", 300, MG, "TID")]),
    ("acetaminophen with warfarin at 2 g/day", patient(age=60, crcl=90, meds=(line("warfarin", 5, MG, "daily"),)),
     [line("acetaminophen", 500, MG, "q6h")]),
    ("a pre-existing combination is not re-flagged on an unrelated order",
     patient(age=50, crcl=90, meds=(line("warfarin", 5, MG, "daily"), line("sertraline", 50, MG, "daily"))),
     [line("acetaminophen", 500, MG, "q6h")]),
    ("a laxative alone", patient(age=40, crcl=100), [line("senna", 8.6, MG, "qHS")]),
    ("tramadol at the reduced CrCl < 30 dose", patient(age=50, crcl=25),
     [line("tramadol", 50, MG, "q12h", days=5), line("senna", 8.6, MG, "qHS")]),
]


@pytest.mark.parametrize("label, who, regimen", CLEAN, ids=[c[0] for c in CLEAN])
def test_a_clean_regimen_gets_no_warning(check, label, who, regimen):
    outcome = check(who, *regimen)
    assert outcome.alerts() == set(), [(f.code, f.summary) for f in outcome.findings]


# ----------------------------------------------------------------------------------------- the finding's shape
def test_findings_are_ordered_and_complete(check):
    outcome = check(patient(age=78, sex="female", weight=61, scr=1.9, conditions=("peptic_ulcer", "falls"),
                            meds=(line("warfarin", 5, MG, "daily"), line("sertraline", 50, MG, "daily"))),
                    line("ibuprofen", 600, MG, "TID"), line("Norco 5/325", 1, "tablet", "q4-6h", prn=True),
                    line("gabapentin", 300, MG, "TID"), line("cyclobenzaprine", 10, MG, "TID"))
    ranks = [SEVERITIES.index(f.severity) for f in outcome.findings]
    assert ranks == sorted(ranks)
    for finding in outcome.findings:
        assert len(finding.summary) < 140
        assert finding.category in CATEGORIES
        assert finding.evidence and all(e.url.startswith("http") for e in finding.evidence)
        assert finding.detail


def test_the_same_drug_by_name_brand_or_code_gives_the_same_findings(check):
    who = patient(age=78, sex="female", weight=61, scr=1.9)
    by_brand = check(who, line("Norco 10/325", 1, "tablet", "q6h"))
    by_name = check(who, line("hydrocodone bitartrate 10 mg / acetaminophen 325 mg", 1, "tablet", "q6h"))
    by_code = check(who, line({"system": RXNORM, "code": "857001"}, 1, "tablet", "q6h"))
    summary = [(f.code, f.severity, f.drugs) for f in by_brand.findings]
    assert summary == [(f.code, f.severity, f.drugs) for f in by_name.findings]
    assert summary == [(f.code, f.severity, f.drugs) for f in by_code.findings]
    assert by_brand.derived["mmePerDay"] == by_code.derived["mmePerDay"] == 40
