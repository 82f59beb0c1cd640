"""The rules in force are versioned: one hash of the knowledge base, every configuration file and the site
override; every configuration file says who reviewed it and when (issue 15, item 3)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stewardship.knowledge import KnowledgeBaseError
from stewardship.rulebook import DEFAULT_CONFIG, load_rulebook


@pytest.fixture
def config_copy(tmp_path) -> Path:
    return Path(shutil.copytree(DEFAULT_CONFIG, tmp_path / "config"))


def test_the_same_rules_give_the_same_version(kb, config_copy):
    assert load_rulebook(kb).version == load_rulebook(kb, config_copy).version


def test_a_changed_configuration_file_changes_the_version(kb, config_copy):
    before = load_rulebook(kb, config_copy).version
    rules = config_copy / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# a site's edit\n", encoding="utf-8")
    assert load_rulebook(kb, config_copy).version != before


def test_a_changed_review_priority_changes_the_version(kb, config_copy):
    before = load_rulebook(kb, config_copy).version
    path = config_copy / "review_priority.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("actionable: 2", "actionable: 3"), encoding="utf-8")
    assert load_rulebook(kb, config_copy).version != before


def test_a_site_override_changes_the_version(kb, config_copy, tmp_path):
    override = tmp_path / "site.yaml"
    override.write_text("rules: {sedation.stacked: {enabled: false}}\n", encoding="utf-8")
    assert load_rulebook(kb, config_copy, override).version != load_rulebook(kb, config_copy).version


def test_a_configuration_file_without_a_review_block_does_not_load(kb, config_copy):
    hooks = config_copy / "cds_hooks.yaml"
    hooks.write_text("\n".join(line for line in hooks.read_text(encoding="utf-8").splitlines()
                               if not line.startswith("reviewed:")), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="cds_hooks.yaml: reviewed"):
        load_rulebook(kb, config_copy)


def test_a_review_due_before_it_was_done_does_not_load(kb, config_copy):
    rules = config_copy / "rules.yaml"
    text = rules.read_text(encoding="utf-8").replace("next_review: 2027-11-27", "next_review: 2025-01-01", 1)
    rules.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="rules.yaml: reviewed"):
        load_rulebook(kb, config_copy)
