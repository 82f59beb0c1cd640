"""Antipsychotics and Beers 2023 Table 6 rows in older adults (issue 12).

The antipsychotic warning in dementia rests on the labels' boxed warning (read verbatim); the Beers 2023 antipsychotic
and Table 6 rows whose 2023 text could not be read in the primary are notes (info), marked unverified."""
import pytest

from stewardship.knowledge import BeersSchema
from tests.unit.clinical import line, patient

MG = "mg"


def older(*conditions: str, crcl: float = 70, age: int = 78):
    return patient(age=age, crcl=crcl, conditions=conditions)


@pytest.mark.parametrize("drug", ["quetiapine", "risperidone", "haloperidol"])
def test_an_antipsychotic_in_a_patient_with_dementia_is_a_warning_from_the_boxed_warning(check, drug):
    outcome = check(older("dementia"), line(drug, 25 if drug == "quetiapine" else 1, MG, "qHS"))
    finding = outcome.finding("drug_disease.antipsychotic_dementia")
    assert finding.severity == "warning"
    assert "Boxed Warning" in " ".join(e.citation for e in finding.evidence)


def test_an_antipsychotic_without_dementia_is_no_dementia_finding(check):
    outcome = check(older(), line("quetiapine", 25, MG, "qHS"))
    assert "drug_disease.antipsychotic_dementia" not in outcome.codes()


def test_an_antipsychotic_at_78_is_an_unverified_beers_note_not_an_alert(check):
    outcome = check(older(), line("olanzapine", 5, MG, "qHS"))
    finding = outcome.finding("geriatric.beers.olanzapine")
    assert finding.severity == "info" and "**Unverified:**" in finding.detail
    assert not [c for c in outcome.alerts() if c.startswith("geriatric.beers")]


def test_an_antipsychotic_at_64_gets_no_beers_note(check):
    outcome = check(older(age=64), line("olanzapine", 5, MG, "qHS"))
    assert "geriatric.beers.olanzapine" not in outcome.codes()


def test_an_antipsychotic_after_a_fall_is_an_unverified_beers_note(check):
    outcome = check(older("falls"), line("aripiprazole", 5, MG, "daily"))
    assert outcome.severity("drug_disease.falls.aripiprazole") == "info"


@pytest.mark.parametrize("drug, dose, edge", [("cimetidine", 400, 50), ("ciprofloxacin", 250, 30),
                                              ("spironolactone", 25, 30)])
def test_beers_table_6_rows_read_only_in_copies_are_notes_below_their_edge(check, drug, dose, edge):
    below = check(older(crcl=edge - 1), line(drug, dose, MG, "BID"))
    at_edge = check(older(crcl=edge), line(drug, dose, MG, "BID"))
    assert below.severity(f"renal.{drug}.caution") == "info"
    assert "**Unverified:**" in below.finding(f"renal.{drug}.caution").detail
    assert not [c for c in at_edge.codes() if c.startswith(f"renal.{drug}")]


def test_famotidine_at_a_reduced_dose_in_ckd_stays_quiet(check):
    outcome = check(older(crcl=40), line("famotidine", 20, MG, "daily"))
    assert not [c for c in outcome.codes() if c.startswith("renal.famotidine")]


def test_an_unverified_beers_statement_may_not_raise_more_than_info():
    with pytest.raises(Exception, match="info at most"):
        BeersSchema().load({"table": 2, "recommendation": "avoid", "unverified": "read only in a summary",
                            "source": "beers-2023: Table 2"})
