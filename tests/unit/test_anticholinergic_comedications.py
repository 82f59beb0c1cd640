"""Strongly anticholinergic drugs of everyday medication lists (issue 12 item 6).

Each carries its ACB 2012 score, so the anticholinergic-burden total counts it (config/rules.yaml,
anticholinergic.acb_total: total >= 3 is a warning at 65 or more, a note below). Beers 2023 rows read only in a
secondary summary are notes (info), marked unverified."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
ACB = "anticholinergic.acb_total"


def current(drug: str, dose: float, freq: str) -> dict:
    return line(drug, dose, MG, freq)


@pytest.mark.parametrize("drug", ["oxybutynin", "tolterodine", "solifenacin", "trospium", "darifenacin",
                                  "fesoterodine", "flavoxate", "dicyclomine", "hyoscyamine", "scopolamine",
                                  "benztropine", "trihexyphenidyl"])
def test_each_strongly_anticholinergic_drug_scores_3_on_the_acb_scale(kb, drug):
    assert kb.ingredients[drug].effects["anticholinergic"].grade == 3


def test_cyclobenzaprine_added_to_oxybutynin_at_68_is_an_anticholinergic_burden_warning(check):
    who = patient(age=68, crcl=70, meds=(current("oxybutynin", 5, "TID"),))
    outcome = check(who, line("cyclobenzaprine", 5, MG, "TID", days=7))
    assert outcome.severity(ACB) == "warning"
    assert "cyclobenzaprine 2, oxybutynin 3" in outcome.finding(ACB).detail


def test_oxybutynin_alone_at_50_raises_no_alert(check):
    outcome = check(patient(age=50, crcl=90), current("oxybutynin", 5, "BID"))
    assert not outcome.alerts()


def test_tolterodine_in_a_78_year_old_with_dementia_reaches_the_burden_threshold_alone(check):
    outcome = check(patient(age=78, crcl=60, conditions=("dementia",)), line("tolterodine", 2, MG, "BID"))
    assert outcome.severity(ACB) == "warning"
    # Beers 2023 Table 3 for the urinary antimuscarinics was not read in any copy: no drug-disease finding of its own.
    assert "drug_disease.dementia.tolterodine" not in outcome.codes()


def test_dicyclomine_at_75_is_an_unverified_beers_note_not_an_alert(check):
    outcome = check(patient(age=75, crcl=60), line("dicyclomine", 20, MG, "QID"))
    finding = outcome.finding("geriatric.beers.dicyclomine")
    assert finding.severity == "info" and "**Unverified:**" in finding.detail


def test_benztropine_with_dementia_is_an_unverified_drug_disease_note(check):
    outcome = check(patient(age=72, crcl=60, conditions=("dementia",)), line("benztropine", 1, MG, "BID"))
    assert outcome.severity("drug_disease.dementia.benztropine") == "info"


@pytest.mark.parametrize("brand", ["Detrol", "Vesicare", "Bentyl", "Cogentin"])
def test_a_brand_counts_like_its_ingredient_towards_the_burden(check, brand):
    who = patient(age=68, crcl=70, meds=(current("cyclobenzaprine", 5, "TID"),))
    assert check(who, line(brand, 1, MG, "BID")).severity(ACB) == "warning"
