"""The rulebook: config/rules.yaml and config/drug_disease.yaml, validated, with every citation resolved (and the
stopping rules and the review queue's priority, from their own files).

Each rule has a switch (`enabled`), a severity (one word, or one per case), its thresholds and its sources (with
`case_sources` where one rule covers cases that rest on different documents, e.g. two NSAIDs vs two opioids). The
engine refuses a rulebook that names a rule it has no code for, or lacks one it has: a switch can never silently
do nothing. A site overrides single settings with a YAML file named by STEWARDSHIP_RULES, e.g.
`{rules: {sedation.stacked: {enabled: false}}}`.
"""
from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, fields, validate

from .knowledge import (
    Citation,
    Citations,
    KnowledgeBase,
    KnowledgeBaseError,
    ReviewedSchema,
    SourceSchema,
    load_checked,
)
from .model import CATEGORIES, CONDITIONS, SEVERITIES, Evidence
from .review_priority import ReviewPriority, load_review_priority
from .stopping import StoppingBook, load_stopping_book

DEFAULT_CONFIG = Path(str(importlib.resources.files("config")))  # travels with the code: see settings.packaged

class RuleSchema(Schema):
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    enabled = fields.Boolean(required=True)
    severity = fields.Raw(load_default=None)
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float(), load_default=dict)
    classes = fields.List(fields.String(), load_default=list)
    codes = fields.String(load_default=None)
    when = fields.String(required=True)
    then = fields.String(required=True)
    sources = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    case_sources = fields.Dict(keys=fields.String(),
                               values=fields.List(fields.String(), validate=validate.Length(min=1)), load_default=dict)


class MatchSchema(Schema):
    classes = fields.List(fields.String(), load_default=list)
    exclude_classes = fields.List(fields.String(), load_default=list)
    ingredients = fields.List(fields.String(), load_default=list)
    effect = fields.String(load_default=None)
    min_grade = fields.Integer(load_default=1)
    systemic = fields.Boolean(load_default=True)
    min_gestational_weeks = fields.Float(load_default=None)
    gestational_weeks_unknown = fields.Boolean(load_default=False)  # matches only when no gestational age is given


class DrugDiseaseSchema(Schema):
    enabled = fields.Boolean(required=True)
    condition = fields.String(required=True, validate=validate.OneOf(CONDITIONS))
    match = fields.Nested(MatchSchema, required=True)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    summary = fields.String(required=True)
    detail = fields.String(required=True)
    sources = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


def evidence_of(citations: Iterable[Citation]) -> tuple[Evidence, ...]:
    """Citations as a finding's evidence, each once (as Evidence compares them: text and url)."""
    return tuple(dict.fromkeys([Evidence(c.text, c.url) for c in citations]))


@dataclass(frozen=True)
class Rule:
    key: str
    category: str
    enabled: bool
    severity: str | Mapping[str, str] | None
    thresholds: Mapping[str, float]
    classes: tuple[str, ...]
    codes: str | None
    when: str
    then: str
    sources: tuple[Citation, ...]
    case_sources: Mapping[str, tuple[Citation, ...]] = field(default_factory=dict)
    # What most findings cite: the rule's own sources, once each (as CheckContext.finding drops repeats)
    evidence: tuple[Evidence, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", evidence_of(self.sources))  # frozen: as dataclasses' own __init__ does

    def severity_for(self, case: str | None = None) -> str:
        if self.severity is None or isinstance(self.severity, str):  # (a str test: Mapping's is an ABC walk)
            return self.severity or "info"
        return self.severity[case or "default"]

    def sources_for(self, case: str | None = None) -> tuple[Citation, ...]:
        """The sources of one case of the rule: its own where `case_sources` names it, else the rule's."""
        return self.case_sources.get(case or "", self.sources)


@dataclass(frozen=True)
class DrugDiseaseEntry:
    key: str
    enabled: bool
    condition: str
    match: Mapping[str, Any]
    severity: str
    summary: str
    detail: str
    sources: tuple[Citation, ...]


@dataclass(frozen=True)
class Rulebook:
    rules: Mapping[str, Rule]
    drug_disease: tuple[DrugDiseaseEntry, ...]
    citations: Mapping[str, dict]
    stopping: StoppingBook
    version: str  # the rules in force: see rules_version
    review_priority: ReviewPriority  # the review queue's order (config/review_priority.yaml)

    def cite(self, text: str) -> Citation:
        source_id, _, locator = text.partition(": ")
        entry = self.citations[source_id]
        return Citation(source_id, locator, entry["title"], entry["url"], entry["edition"])


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def _check_severity(key: str, severity: Any) -> None:
    values = severity.values() if isinstance(severity, dict) else [severity]
    for value in values:
        if value is not None and value not in SEVERITIES:
            raise KnowledgeBaseError(f"rules.yaml: rule {key!r}: field severity: {value!r} is not one of "
                                     f"{', '.join(SEVERITIES)}")


def load_rulebook(kb: KnowledgeBase, directory: Path | str = DEFAULT_CONFIG,
                  override: Path | str | None = None) -> Rulebook:
    root = Path(directory)
    check_reviews(root)
    raw = yaml.safe_load((root / "rules.yaml").read_text(encoding="utf-8"))
    site = (yaml.safe_load(Path(override).read_text(encoding="utf-8")) or {}) if override else {}
    raw = _merge(raw, {"rules": site.get("rules") or {}})
    citations = dict(kb.sources)
    stopping_raw = yaml.safe_load((root / "stopping_rules.yaml").read_text(encoding="utf-8")) or {}
    for name, file_raw in (("stopping_rules.yaml", stopping_raw), ("rules.yaml", raw)):  # rules.yaml's win a tie
        for source_id, entry in (file_raw.get("sources") or {}).items():
            citations[source_id] = load_checked(SourceSchema(), entry, f"{name}: source {source_id!r}")

    cite = Citations(citations).cite

    rules = {}
    for key, spec in (raw.get("rules") or {}).items():
        loaded = load_checked(RuleSchema(), spec, f"rules.yaml: rule {key!r}")
        _check_severity(key, loaded["severity"])
        rules[key] = Rule(key, loaded["category"], loaded["enabled"], loaded["severity"], loaded["thresholds"],
                          tuple(loaded["classes"]), loaded["codes"], loaded["when"], loaded["then"],
                          tuple(cite(s, f"rules.yaml: rule {key!r}") for s in loaded["sources"]),
                          {case: tuple(cite(s, f"rules.yaml: rule {key!r}, case {case!r}") for s in texts)
                           for case, texts in loaded["case_sources"].items()})

    raw_entries = yaml.safe_load((root / "drug_disease.yaml").read_text(encoding="utf-8")) or {}
    entries = []
    for key, spec in (raw_entries.get("entries") or {}).items():
        loaded = load_checked(DrugDiseaseSchema(), spec, f"drug_disease.yaml: entry {key!r}")
        for klass in loaded["match"]["classes"] + loaded["match"]["exclude_classes"]:
            if klass not in kb.classes:
                raise KnowledgeBaseError(f"drug_disease.yaml: entry {key!r}: field match.classes: unknown {klass!r}")
        for name in loaded["match"]["ingredients"]:
            if name not in kb.ingredients:
                raise KnowledgeBaseError(f"drug_disease.yaml: entry {key!r}: field match.ingredients: unknown {name!r}")
        entries.append(DrugDiseaseEntry(key, loaded["enabled"], loaded["condition"], loaded["match"],
                                        loaded["severity"], loaded["summary"], loaded["detail"],
                                        tuple(cite(s, f"drug_disease.yaml: entry {key!r}") for s in loaded["sources"])))
    stopping = load_stopping_book(kb, root / "stopping_rules.yaml", site.get("stopping_rules"), citations)
    priority = load_review_priority(root / "review_priority.yaml", site.get("review_priority"), Citations(citations))
    return Rulebook(rules, tuple(entries), citations, stopping, rules_version(kb, root, override), priority)


def check_reviews(config_dir: Path) -> None:
    """Every file of the site configuration says who checked it, when, and when it is next reviewed, as the
    knowledge base's files do: a file without a valid `reviewed:` block stops start-up, naming it."""
    for path in sorted(Path(config_dir).glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        load_checked(ReviewedSchema(), raw.get("reviewed") if isinstance(raw, dict) else None, f"{path.name}: reviewed")


def rules_version(kb: KnowledgeBase, config_dir: Path, override: Path | str | None) -> str:
    """One hash for everything that decides an answer: the knowledge base (its own version hashes drugdata/),
    every YAML file of the site configuration and the site override, so any stored answer can be traced to the
    rules that produced it (issue 15). Files are hashed with their names, in name order."""
    digest = hashlib.sha256(kb.version.encode())
    for path in sorted(Path(config_dir).rglob("*.yaml")):  # the configuration, not the package's own files
        digest.update(path.relative_to(config_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    if override:
        digest.update(b"override\0" + Path(override).read_bytes())
    return digest.hexdigest()[:16]
