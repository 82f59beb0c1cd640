"""Stopping rules over time, with a frozen clock (asOf): start -> 4 weeks -> 6 weeks, with and without benefit."""
import datetime as dt
import shutil

import pytest
import yaml

from stewardship.knowledge import KnowledgeBaseError
from stewardship.model import Outcome
from stewardship.rulebook import DEFAULT_CONFIG, load_rulebook
from tests.unit.clinical import line, patient

START = dt.date(2026, 1, 5)
MG = "mg"


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def gabapentin_course(check, on_day: int, outcomes=(), dose: float = 600, new_dose: float | None = None, **who):
    """The patient has taken gabapentin since START; the order on `on_day` renews it (or changes its dose)."""
    current = line("gabapentin", dose, MG, "TID", start=START)
    person = patient(age=55, crcl=90, meds=(current,), **who)
    person = type(person)(**{**person.__dict__, "outcomes": tuple(outcomes)})
    return check(person, line("gabapentin", new_dose or dose, MG, "TID"), as_of=day(on_day))


def test_starting_gabapentin_schedules_review_at_4_weeks_and_decision_at_6(check):
    outcome = check(patient(age=55, crcl=90), line("gabapentin", 300, MG, "TID", start=START), as_of=START)
    reminders = {r["kind"]: r["due"] for r in outcome.result.reminders}
    assert reminders == {"review": day(28), "stop_or_taper": day(42)}
    assert not outcome.codes("warning") & {"stopping_rule.review_due", "stopping_rule.no_benefit"}


def test_no_reminders_without_a_patient_id_and_it_says_so(check):
    outcome = check(patient(age=55, crcl=90, patient_id=None), line("gabapentin", 300, MG, "TID"), as_of=START)
    assert outcome.result.reminders == []
    assert outcome.severity("stopping_rule.no_patient_id") == "info"


@pytest.mark.parametrize("on_day, code", [(27, None), (28, "stopping_rule.review_due"),
                                          (41, "stopping_rule.review_due"), (42, "stopping_rule.no_benefit")])
def test_renewal_without_an_outcome_is_reviewed_at_4_weeks_and_stopped_at_6(check, on_day, code):
    outcome = gabapentin_course(check, on_day, dose=600)
    found = outcome.codes() & {"stopping_rule.review_due", "stopping_rule.no_benefit"}
    assert found == ({code} if code else set())
    if code == "stopping_rule.no_benefit":
        assert outcome.severity(code) == "critical"
    elif code:
        assert outcome.severity(code) == "warning"


def test_past_the_decision_point_the_finding_carries_a_dated_taper_over_at_least_a_week(check):
    outcome = gabapentin_course(check, 45, outcomes=[Outcome("gabapentin", day(30), False, 7, 7)], dose=600)
    finding = outcome.finding("stopping_rule.no_benefit")
    taper = next(s for s in finding.suggestions if s["action"] == "taper")
    steps = taper["steps"]
    assert steps[0]["from"] == day(45).isoformat() and steps[0]["dailyDose"]["value"] == 1200
    assert steps[-1]["stop"] is True
    assert dt.date.fromisoformat(steps[-1]["from"]) - day(45) >= dt.timedelta(days=7)
    assert "7 -> 7" in finding.summary or "no benefit" in finding.summary


def test_a_documented_benefit_silences_the_rule_until_the_next_review(check):
    helped = [Outcome("gabapentin", day(29), True, 4, 8)]
    assert not {c for c in gabapentin_course(check, 45, outcomes=helped).codes() if c.startswith("stopping_rule")}
    later = gabapentin_course(check, 29 + 90, outcomes=helped)
    assert later.severity("stopping_rule.review_due") == "warning"


def test_thirty_percent_less_pain_counts_as_benefit_even_if_not_ticked(check):
    outcome = gabapentin_course(check, 45, outcomes=[Outcome("Neurontin", day(29), False, 5, 8)])
    assert "stopping_rule.no_benefit" not in outcome.codes()


def test_a_dose_that_cannot_yet_work_is_not_called_a_failure(check):
    outcome = gabapentin_course(check, 45, dose=100)  # 300 mg/day, below the usual effective dose
    assert "stopping_rule.no_benefit" not in outcome.codes()
    finding = outcome.finding("stopping_rule.subtherapeutic")
    assert finding.severity == "warning" and "titrate" in finding.summary


def test_a_dose_still_rising_after_review_without_benefit_is_flagged(check):
    outcome = gabapentin_course(check, 30, dose=600, new_dose=900)
    assert outcome.severity("stopping_rule.dose_rising") == "warning"


def test_muscle_relaxants_are_reviewed_at_2_weeks(check):
    person = patient(age=50, crcl=90, meds=(line("cyclobenzaprine", 5, MG, "TID", start=START),))
    assert check(person, line("cyclobenzaprine", 5, MG, "TID"), as_of=day(13)).codes() & {
        "stopping_rule.review_due"} == set()
    assert "stopping_rule.review_due" in check(person, line("cyclobenzaprine", 5, MG, "TID"), as_of=day(14)).codes()


def test_an_opioid_for_acute_pain_is_reviewed_at_a_week(check):
    person = patient(age=50, crcl=90, pain="acute", meds=(line("oxycodone", 5, MG, "q6h", start=START),))
    outcome = check(person, line("oxycodone", 5, MG, "q6h"), line("senna", 8.6, MG, "qHS"), as_of=day(7))
    assert "stopping_rule.review_due" in outcome.codes()


def test_a_continued_drug_keeps_its_original_start_date(check):
    outcome = gabapentin_course(check, 10)
    assert {r["startDate"] for r in outcome.result.reminders} == {START}


# ------------------------------------------------------------------------------------------------------- tapers
def test_a_taper_in_config_comes_before_the_labels_own_and_is_the_same_kind_of_fact(kb, engine):
    book = engine.rulebook.stopping
    configured = book.taper_for(kb.ingredients["gabapentin"])
    assert configured == book.tapers["gabapentin"] and type(configured) is type(kb.ingredients["gabapentin"].taper)
    assert configured.min_days == 7 and configured.source.source_id == "label-gabapentin"


def test_a_drug_without_a_configured_taper_keeps_its_labels_own(kb, engine):
    tizanidine = kb.ingredients["tizanidine"]
    assert "tizanidine" not in engine.rulebook.stopping.tapers
    assert engine.rulebook.stopping.taper_for(tizanidine) is tizanidine.taper


@pytest.mark.parametrize("taper, message", [
    ({"min_days": 400, "note": "x", "source": "label-gabapentin: 2"}, "min_days"),
    ({"note": "x", "source": "label-gabapentin"}, "must read '<source-id>: <table or section>'"),
    ({"note": "x", "source": "label-gabapentin: 2", "max_days": 14}, "max_days"),
])
def test_a_configured_taper_is_held_to_the_knowledge_bases_taper_schema(kb, tmp_path, taper, message):
    config = shutil.copytree(DEFAULT_CONFIG, tmp_path / "config")
    path = config / "stopping_rules.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["tapers"]["gabapentin"] = taper
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="tapers.gabapentin") as error:
        load_rulebook(kb, config)
    assert message in str(error.value)
