"""Opioid starting doses in impaired kidney and liver function, as the labels give them (issue 12, item 5).

OPANA ER's hepatic (2.5) and renal (2.6) statements were read in a copy of the label: they raise warnings (and the
contraindication in moderate or severe hepatic impairment a critical), for the extended-release tablets only.
Oxycodone's and hydromorphone's fractions were read only in secondary copies: info at most, marked unverified."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
OXYMORPHONE_ER = "oxymorphone hydrochloride 10 MG 12HR Extended Release Oral Tablet"


def cirrhosis(child_pugh: str | None):
    return patient(age=60, crcl=90, conditions=("cirrhosis",), child_pugh=child_pugh)


def test_extended_release_oxymorphone_is_contraindicated_in_moderate_hepatic_impairment(check):
    outcome = check(cirrhosis("B"), line(OXYMORPHONE_ER, 1, "tablet", "q12h"))
    assert outcome.severity("hepatic.oxymorphone.avoid") == "critical"
    assert "contraindicated" in outcome.finding("hepatic.oxymorphone.avoid").detail


def test_extended_release_oxymorphone_in_mild_hepatic_impairment_starts_lower(check):
    outcome = check(cirrhosis("A"), line(OXYMORPHONE_ER, 1, "tablet", "q12h"))
    assert outcome.severity("hepatic.oxymorphone.reduce") == "warning"
    assert "hepatic.oxymorphone.avoid" not in outcome.codes()


def test_extended_release_oxymorphone_with_unknown_liver_severity_is_assessed_not_forbidden(check):
    outcome = check(cirrhosis(None), line(OXYMORPHONE_ER, 1, "tablet", "q12h"))
    assert outcome.severity("hepatic.oxymorphone.avoid") == "warning"
    assert "if Child-Pugh B" in outcome.finding("hepatic.oxymorphone.avoid").summary


def test_immediate_release_oxymorphone_is_not_held_to_the_extended_release_label(check):
    outcome = check(cirrhosis("B"), line("oxymorphone", 5, MG, "q6h"))
    assert not [c for c in outcome.codes() if c.startswith("hepatic.oxymorphone")]


@pytest.mark.parametrize("crcl, flagged", [(49.9, True), (50, False)])
def test_extended_release_oxymorphone_starts_lower_below_crcl_50(check, crcl, flagged):
    outcome = check(patient(age=60, crcl=crcl), line(OXYMORPHONE_ER, 1, "tablet", "q12h"))
    assert ("renal.oxymorphone.reduce" in outcome.alerts()) is flagged


@pytest.mark.parametrize("crcl, flagged", [(59.9, True), (60, False)])
def test_oxycodone_below_crcl_60_is_info_only_and_marked_unverified(check, crcl, flagged):
    outcome = check(patient(age=60, crcl=crcl), line("oxycodone", 5, MG, "q6h", prn=True))
    assert ("renal.oxycodone.caution" in outcome.codes("info")) is flagged
    assert not [c for c in outcome.alerts() if c.startswith("renal.oxycodone")]
    if flagged:
        assert "**Unverified:**" in outcome.finding("renal.oxycodone.caution").detail


@pytest.mark.parametrize("drug, dose", [("oxycodone", 5), ("hydromorphone", 2)])
def test_oxycodone_and_hydromorphone_in_liver_disease_are_info_with_their_fraction(check, drug, dose):
    outcome = check(cirrhosis("C"), line(drug, dose, MG, "q6h", prn=True))
    finding = outcome.finding(f"hepatic.{drug}.caution")
    assert finding.severity == "info"
    assert "one-" in finding.detail and "**Unverified:**" in finding.detail


def test_an_everyday_opioid_regimen_with_normal_organ_function_stays_quiet(check):
    outcome = check(patient(age=50, crcl=95), line("oxycodone", 5, MG, "q6h", prn=True),
                    line("acetaminophen", 500, MG, "q6h"))
    assert not [c for c in outcome.codes() if c.startswith(("renal.", "hepatic."))]


# ------------------------------------------------------------------------------------------------ tapentadol
# NUCYNTA 8.6 / 8.7 and NUCYNTA ER 2.4 were read in a verbatim mirror of the DailyMed label (not a dosing summary).
def test_tapentadol_is_not_recommended_in_severe_hepatic_impairment_and_starts_lower_in_moderate(check):
    severe = check(cirrhosis("C"), line("tapentadol", 50, MG, "q6h"))
    assert severe.severity("hepatic.tapentadol.avoid") == "critical"
    assert "8.7 Hepatic Impairment" in severe.finding("hepatic.tapentadol.avoid").detail
    moderate = check(cirrhosis("B"), line("tapentadol", 50, MG, "q8h"))
    assert moderate.severity("hepatic.tapentadol.reduce") == "warning"


def test_tapentadol_in_severe_renal_impairment_is_not_recommended(check):
    outcome = check(patient(age=60, crcl=25), line("tapentadol", 50, MG, "q6h"))
    assert [c for c in outcome.codes() if c.startswith("renal.") and "tapentadol" in c]
    quiet = check(patient(age=60, crcl=30), line("tapentadol", 50, MG, "q6h"))
    assert not [c for c in quiet.codes() if c.startswith("renal.") and "tapentadol" in c]
