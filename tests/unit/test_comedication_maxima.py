"""Issue 12, maxima of the co-medications a pain clinic sees, each at the boundary its label's section 2 draws: at the
maximum the check is quiet, one step above it is a finding."""
import pytest

from tests.unit.clinical import line, patient

MG = "mg"
ADULT = dict(age=45, crcl=100, weight=75)


# -------------------------------------------------------------------------------------------- sertraline
@pytest.mark.parametrize("per_dose, flagged", [(200, False), (250, True)])
def test_sertraline_is_held_to_200_mg_a_day(check, per_dose, flagged):
    outcome = check(patient(**ADULT), line("sertraline", per_dose, MG, "daily"))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


@pytest.mark.parametrize("per_dose, flagged", [(100, False), (150, True)])
def test_sertraline_in_liver_disease_is_held_to_half_the_maximum(check, per_dose, flagged):
    outcome = check(patient(**ADULT, conditions=("cirrhosis",)), line("sertraline", per_dose, MG, "daily"))
    assert ("hepatic.max_dose" in outcome.alerts()) is flagged


# -------------------------------------------------------------------------------------------- eszopiclone
@pytest.mark.parametrize("dose, flagged", [(3, False), (4, True)])
def test_eszopiclone_is_held_to_3_mg_at_bedtime(check, dose, flagged):
    outcome = check(patient(**ADULT), line("eszopiclone", dose, MG, "qhs"))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


@pytest.mark.parametrize("age, dose, flagged", [(70, 2, False), (70, 3, True), (64, 3, False)])
def test_eszopiclone_in_an_older_adult_is_held_to_2_mg(check, age, dose, flagged):
    outcome = check(patient(age=age, crcl=80, weight=70), line("eszopiclone", dose, MG, "qhs"))
    assert ("dose.older_adult_max" in outcome.alerts()) is flagged


# -------------------------------------------------------------------------------------------- zolpidem
@pytest.mark.parametrize("dose, flagged", [(10, False), (15, True)])
def test_zolpidem_ir_is_held_to_10_mg_at_bedtime(check, dose, flagged):
    outcome = check(patient(**ADULT), line("zolpidem", dose, MG, "qhs"))
    assert ("dose.max_daily" in outcome.alerts()) is flagged


def test_zolpidem_er_12_5_mg_is_not_held_to_the_immediate_release_maximum(check):
    outcome = check(patient(**ADULT), line("zolpidem ER", 12.5, MG, "qhs"))
    assert "dose.max_daily" not in outcome.codes()


@pytest.mark.parametrize("dose, severity", [(5, None), (10, "info")])
def test_zolpidem_above_5_mg_in_an_older_adult_is_a_note_not_an_alert(check, dose, severity):
    outcome = check(patient(age=72, crcl=70, weight=70), line("zolpidem", dose, MG, "qhs"))
    assert outcome.severity("dose.older_adult_max") == severity
