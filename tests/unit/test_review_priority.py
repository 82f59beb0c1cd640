"""The review queue's priority is reviewed data (config/review_priority.yaml), held to its schema: a weight that
is not a positive whole number, an edge outside what a patient can have, or weights that would put a warning before
a critical do not load (issue 15, item 6)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from stewardship.knowledge import KnowledgeBaseError
from stewardship.rulebook import DEFAULT_CONFIG, load_rulebook


@pytest.fixture
def config_copy(tmp_path) -> Path:
    return Path(shutil.copytree(DEFAULT_CONFIG, tmp_path / "config"))


def _edit(config: Path, change) -> None:
    path = config / "review_priority.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")


def test_the_shipped_priority_weighs_beers_age_and_the_nsaid_crcl_edge_and_runs_from_2_to_18(kb):
    priority = load_rulebook(kb).review_priority
    assert dict(priority.severity) == {"critical": 3, "warning": 2, "other": 1}
    assert [(f.label, f.adds) for f in priority.risk_factors] == [("age ≥ 65", 1), ("CrCl < 30 mL/min", 1)]
    assert all(c.source_id == "beers-2023" for f in priority.risk_factors for c in f.sources)
    assert priority.review_range == (2, 18)


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw["severity"].update(warning=4), "critical > warning > other"),
    (lambda raw: raw["severity"].update(critical=0), "severity.critical"),
    (lambda raw: raw.update(actionable=1.5), "actionable"),
    (lambda raw: raw.update(base_risk="1"), "base_risk"),
    (lambda raw: raw["risk_factors"][0].update(at_least=200), "between 18 and 120"),
    (lambda raw: raw["risk_factors"][1].update(below=0), "between 1 and 200"),
    (lambda raw: raw["risk_factors"][1].update(at_least=60), "exactly one of at_least and below"),
    (lambda raw: raw["risk_factors"][0].update(derived="weightKg"), "derived"),
    (lambda raw: raw["risk_factors"][0].update(adds=-1), "adds"),
    (lambda raw: raw.update(tie_break="newest"), "tie_break"),
])
def test_a_priority_block_that_breaks_its_schema_does_not_load(kb, config_copy, change, message):
    _edit(config_copy, change)
    with pytest.raises(KnowledgeBaseError, match="review_priority.yaml") as error:
        load_rulebook(kb, config_copy)
    assert message in str(error.value)


def test_a_risk_factor_must_cite_a_registered_source(kb, config_copy):
    _edit(config_copy, lambda raw: raw["risk_factors"][0].update(sources=["beers-2099: Table 1"]))
    with pytest.raises(KnowledgeBaseError, match="'beers-2099' is not a registered source"):
        load_rulebook(kb, config_copy)


def test_a_site_override_sets_the_weights_and_keeps_the_rest(kb, tmp_path):
    override = tmp_path / "site.yaml"
    override.write_text("review_priority: {actionable: 3}\n", encoding="utf-8")
    priority = load_rulebook(kb, DEFAULT_CONFIG, override).review_priority
    assert priority.actionable == 3 and priority.review_range == (2, 27)
