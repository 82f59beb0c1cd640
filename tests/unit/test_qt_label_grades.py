"""Issue 12, QT pairs: where CredibleMeds could not be read, the label sets a co-medication's QT grade (a Warnings or
Precautions QT section with torsades reported is 2, QT named elsewhere in the label is 1), and methadone or citalopram
with any graded drug is a QT finding. Everyday pain regimens without such a drug stay quiet."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
ADULT = dict(age=50, crcl=90, weight=75)
METHADONE = line("methadone", 10, MG, "TID")


@pytest.mark.parametrize("partner, dose, freq", [
    ("fluconazole", 150, "daily"),      # Precautions: QT prolongation and torsade de pointes (grade 2)
    ("hydroxyzine", 25, "TID"),         # Precautions: QT prolongation/TdP (grade 2)
    ("erythromycin", 250, "QID"),       # Warnings: QT prolongation, torsades reported (grade 2)
    ("quetiapine", 50, "qhs"),          # W&P QT section, no torsades named; avoid with QT drugs (grade 1)
    ("amitriptyline", 25, "qhs"),       # QT named in the cisapride contraindication (grade 1)
])
def test_methadone_with_a_qt_prolonging_co_medication_is_a_qt_warning(check, partner, dose, freq):
    outcome = check(patient(**ADULT), METHADONE, line(partner, dose, MG, freq))
    assert outcome.severity("qt.combination") == "warning"
    assert partner in outcome.finding("qt.combination").summary


@pytest.mark.parametrize("partner, tier", [("hydroxyzine", "possible"), ("quetiapine", "conditional")])
def test_the_pair_rule_names_the_label_tier_and_warns_for_either(check, partner, tier):
    outcome = check(patient(**ADULT), METHADONE, line(partner, 25, MG, "qhs"))
    assert outcome.severity("qt.combination") == "warning"  # a grade 1 partner warns as a grade 2 one does
    assert f"{partner} {tier}" in outcome.finding("qt.combination").detail


def test_citalopram_with_hydroxyzine_is_a_qt_warning(check):
    outcome = check(patient(**ADULT), line("citalopram", 20, MG, "daily"), line("hydroxyzine", 25, MG, "TID"))
    assert outcome.severity("qt.combination") == "warning"


def test_erythromycin_eye_ointment_with_methadone_has_no_qt_finding(check):
    outcome = check(patient(**ADULT), METHADONE, line("erythromycin", 1, MG, "QID", route="topical"))
    assert "qt.combination" not in outcome.codes()


@pytest.mark.parametrize("partner", ["acetaminophen", "gabapentin", "sertraline", "omeprazole"])
def test_methadone_with_an_everyday_co_medication_without_qt_risk_has_no_qt_finding(check, partner):
    dose = {"acetaminophen": 650, "gabapentin": 300, "sertraline": 50, "omeprazole": 20}[partner]
    outcome = check(patient(**ADULT), METHADONE, line(partner, dose, MG, "daily"))
    assert "qt.combination" not in outcome.codes()


def test_two_label_graded_drugs_without_a_known_risk_drug_are_not_a_qt_pair(check):
    outcome = check(patient(**ADULT), line("hydroxyzine", 25, MG, "qhs"), line("quetiapine", 25, MG, "qhs"))
    assert "qt.combination" not in outcome.codes()


@pytest.mark.parametrize("drug, flagged", [("hydroxyzine", True), ("fluconazole", True), ("quetiapine", False)])
def test_long_qt_is_warned_for_a_possible_risk_drug_only(check, drug, flagged):
    outcome = check(patient(**ADULT, conditions=("long_qt",)), line(drug, 25, MG, "daily"))
    assert ("qt.long_qt" in outcome.alerts()) is flagged
