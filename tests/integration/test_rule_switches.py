"""A site switches a rule off (or changes a threshold) in an override file, without touching config/rules.yaml."""
from __future__ import annotations

from dataclasses import replace

import pytest

from api import create_app
from stewardship.knowledge import KnowledgeBaseError
from stewardship.rulebook import load_rulebook

BODY = {"patient": {"age": 50, "crcl": {"value": 90, "unit": "mL/min"}},
        "regimen": [{"drug": "cyclobenzaprine", "dose": {"value": 10, "unit": "mg"}, "frequency": "TID"},
                    {"drug": "hydroxyzine", "dose": {"value": 25, "unit": "mg"}, "frequency": "qHS"}]}


def _codes(app) -> set[str]:
    response = app.test_client().post("/api/v1/checks", json=BODY)
    return {f["code"] for f in response.get_json()["findings"]}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_rule_switched_off_in_the_site_override_does_not_fire(settings, tmp_path):
    override = tmp_path / "site-rules.yaml"
    override.write_text("rules:\n  sedation.stacked: {enabled: false}\n")
    default_app = create_app(replace(settings, auth=False))
    site_app = create_app(replace(settings, auth=False, rules_override=override))
    try:
        assert "sedation.stacked" in _codes(default_app)
        assert "sedation.stacked" not in _codes(site_app)
    finally:
        default_app.extensions["store"].engine.dispose()
        site_app.extensions["store"].engine.dispose()


def test_a_bad_rule_file_fails_loudly_naming_the_rule(kb, tmp_path):
    override = tmp_path / "site-rules.yaml"
    override.write_text("rules:\n  sedation.stacked: {severity: loud}\n")
    with pytest.raises(KnowledgeBaseError, match="sedation.stacked.*severity"):
        load_rulebook(kb, override=override)


def test_a_site_changes_the_stopping_rule_days_in_its_override(kb, tmp_path):
    override = tmp_path / "site-rules.yaml"
    override.write_text("stopping_rules:\n  rules:\n    neuropathic_agent: {review_days: 21}\n"
                        "    benzodiazepine: {enabled: false}\n")
    book = load_rulebook(kb, override=override).stopping
    assert next(r for r in book.rules if r.key == "neuropathic_agent").review_days == 21
    assert "benzodiazepine" not in {r.key for r in book.rules}
