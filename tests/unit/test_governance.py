"""The knowledge base as a P&T committee signs it: every rule and fact with its source, verification status, reviewer
and next review; unverified facts raise info at most (the loader refuses anything else); overdue reviews are said."""
import datetime as dt
import shutil

import pytest
import yaml
from click.testing import CliRunner

from stewardship import governance, knowledge
from stewardship.knowledge import DEFAULT_DRUGDATA, KnowledgeBaseError
from stewardship.rulebook import DEFAULT_CONFIG


@pytest.fixture(scope="module")
def items(kb, engine):
    return governance.catalogue(kb, engine.rulebook, DEFAULT_CONFIG)


def test_every_rule_and_fact_is_listed_with_a_source(items, engine):
    assert {i.subject for i in items if i.kind == "rule"} == set(engine.rulebook.rules)
    assert all(i.sources for i in items)
    assert {i.kind for i in items} <= set(governance.KINDS)


def test_unverified_facts_say_why_and_are_never_more_than_caution(items):
    unverified = [i for i in items if i.status == "unverified"]
    assert unverified and all(i.unverified for i in unverified)
    assert all(i.statement.endswith("caution") for i in unverified if i.kind in ("renal", "hepatic"))
    assert any(i.subject == "dabigatran" and i.kind == "procedure_hold" for i in unverified)


def test_a_label_floor_read_in_the_label_text_is_listed_as_verified_and_as_the_labels_minimum(items):
    apixaban = [i for i in items if i.subject == "apixaban" and i.kind == "procedure_hold"]
    assert apixaban and all(i.status == "verified" for i in apixaban)
    assert all("(label minimum)" in i.statement and "FDA label's own minimum" in i.note for i in apixaban)


def test_verified_facts_name_who_checked_them_and_the_next_review(items):
    oxymorphone = [i for i in items if i.subject == "oxymorphone" and i.kind == "hepatic"]
    assert oxymorphone and all(i.status == "verified" and i.review.checked_by for i in oxymorphone)
    as_json = oxymorphone[0].as_json(dt.date(2026, 11, 28))
    assert as_json["nextReview"] and as_json["checkedOn"] and as_json["overdue"] is False


def test_a_review_is_overdue_only_after_its_next_review_day(kb):
    due = min(r.review.next_review for r in governance.file_reviews(kb, DEFAULT_CONFIG))
    assert governance.overdue_reviews(kb, DEFAULT_CONFIG, due) == []
    assert governance.overdue_reviews(kb, DEFAULT_CONFIG, due + dt.timedelta(days=1))


def test_an_unverified_fact_that_would_warn_is_refused_at_load():
    band = {"crcl_below": 60, "action": "reduce", "unverified": "read only in a dosing summary", "source": "x: y"}
    with pytest.raises(Exception) as error:
        knowledge.RenalBandSchema().load(band)
    assert "info at most" in str(error.value)
    assert knowledge.RenalBandSchema().load({**band, "action": "caution"})["unverified"]


# ------------------------------------------------------------------------------------------------ kb check (CLI)
def _kb_check(*args: str, env: dict | None = None):
    from cli import main

    return CliRunner().invoke(main, ["kb", "check", *args], env=env or {})


def test_kb_check_warns_about_reviews_past_their_date_but_passes():
    result = _kb_check("--as-of", "2099-01-01")
    assert result.exit_code == 0
    assert "warning: review overdue: procedures.yaml" in result.stderr
    assert "review(s) overdue as of 2099-01-01" in result.stderr


def test_kb_check_is_quiet_about_reviews_still_in_date():
    result = _kb_check("--as-of", "2026-11-28")
    assert result.exit_code == 0 and "overdue" not in result.stderr


def test_kb_check_fails_on_a_malformed_file(tmp_path):
    copy = tmp_path / "drugdata"
    shutil.copytree(DEFAULT_DRUGDATA, copy)
    path = copy / "ingredients" / "opioids.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["ingredients"][0]["renal"] = [{"crcl_below": 30, "action": "reduce", "unverified": "a secondary summary only",
                                        "source": "cdc-2022: Table"}]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _kb_check(env={"STEWARDSHIP_DRUGDATA": str(copy)})
    assert result.exit_code == 1
    assert "info at most" in result.stderr


def test_kb_check_fails_on_a_review_dated_after_today(tmp_path):
    copy = tmp_path / "drugdata"
    shutil.copytree(DEFAULT_DRUGDATA, copy)
    path = copy / "procedures.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["reviewed"].update(checked_on=dt.date(2098, 1, 1), next_review=dt.date(2099, 1, 1))
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = _kb_check(env={"STEWARDSHIP_DRUGDATA": str(copy)})
    assert result.exit_code == 1
    assert "review dated in the future: procedures.yaml: checked 2098-01-01" in result.stderr


def test_the_loader_names_the_file_of_a_bad_fact(tmp_path):
    copy = tmp_path / "drugdata"
    shutil.copytree(DEFAULT_DRUGDATA, copy)
    path = copy / "procedures.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("hold_hours: 48,", "hold_hours: -48,", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="procedures.yaml"):
        knowledge.load(copy)
