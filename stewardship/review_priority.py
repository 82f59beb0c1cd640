"""The review queue's priority as config/review_priority.yaml sets it: severity x patient risk x actionability.

The weights are the site's (reviewed like every config file); the edges of patient risk are the sources' (Beers'
older adult, Beers Table 6's CrCl below which NSAIDs are avoided). Pure: adapters/reviews.py builds the SQL the
queue is ordered by from these values, and the queue page says the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .knowledge import Citation, Citations, ReviewedSchema, _source_field, load_checked

# what a risk factor may read: the check's `derived` values the queue and a sweep's worklist store, as
# (words, unit, the plausible range of an edge)
RISK_INPUTS: Mapping[str, tuple[str, str, tuple[float, float]]] = {
    "ageYears": ("age", "", (18, 120)),
    "crclMlMin": ("CrCl", " mL/min", (1, 200)),
}


class SeverityWeightsSchema(Schema):
    critical = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    warning = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    other = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))

    @validates_schema
    def _most_severe_weighs_most(self, data: dict, **_: Any) -> None:
        if not data["critical"] > data["warning"] > data["other"]:
            raise ValidationError("must fall strictly: critical > warning > other (the queue's severity order)")


class RiskFactorSchema(Schema):
    derived = fields.String(required=True, validate=validate.OneOf(RISK_INPUTS))
    at_least = fields.Float(load_default=None)
    below = fields.Float(load_default=None)
    adds = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    why = fields.String(required=True, validate=validate.Length(min=10))
    sources = fields.List(_source_field(), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _one_edge_in_range(self, data: dict, **_: Any) -> None:
        edges = [edge for edge in (data["at_least"], data["below"]) if edge is not None]
        if len(edges) != 1:
            raise ValidationError("give exactly one of at_least and below", "at_least")
        low, high = RISK_INPUTS[data["derived"]][2]
        if not low <= edges[0] <= high:
            raise ValidationError(f"must be between {low:g} and {high:g} for {data['derived']}",
                                  "at_least" if data["at_least"] is not None else "below")


class ReviewPrioritySchema(Schema):
    reviewed = fields.Nested(ReviewedSchema, required=True)
    severity = fields.Nested(SeverityWeightsSchema, required=True)
    base_risk = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    risk_factors = fields.List(fields.Nested(RiskFactorSchema), required=True)
    actionable = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


@dataclass(frozen=True)
class RiskFactor:
    derived: str  # a key of RISK_INPUTS
    at_least: float | None
    below: float | None
    adds: int
    why: str
    sources: tuple[Citation, ...]

    @property
    def label(self) -> str:
        """The edge as the queue page says it: "age ≥ 65", "CrCl < 30 mL/min"."""
        words, unit, _ = RISK_INPUTS[self.derived]
        sign, edge = ("≥", self.at_least) if self.at_least is not None else ("<", self.below)
        return f"{words} {sign} {edge:g}{unit}"


@dataclass(frozen=True)
class ReviewPriority:
    severity: Mapping[str, int]  # critical, warning, other
    base_risk: int
    risk_factors: tuple[RiskFactor, ...]
    actionable: int  # the multiplier when a finding carries a concrete suggestion

    @property
    def review_range(self) -> tuple[int, int]:
        """The lowest and highest priority a review item (worst finding a warning or critical) can have."""
        highest_risk = self.base_risk + sum(factor.adds for factor in self.risk_factors)
        return self.severity["warning"] * self.base_risk, self.severity["critical"] * highest_risk * self.actionable


def load_review_priority(path: Path, override: Mapping[str, Any] | None, citations: Citations) -> ReviewPriority:
    """config/review_priority.yaml, with a site override's `review_priority:` settings over it (whole keys)."""
    raw = {**(yaml.safe_load(path.read_text(encoding="utf-8")) or {}), **(override or {})}
    loaded = load_checked(ReviewPrioritySchema(), raw, path.name)
    factors = tuple(RiskFactor(f["derived"], f["at_least"], f["below"], f["adds"], f["why"],
                               tuple(citations.cite(s, f"{path.name}: risk_factors[{i}]") for s in f["sources"]))
                    for i, f in enumerate(loaded["risk_factors"]))
    return ReviewPriority(loaded["severity"], loaded["base_risk"], factors, loaded["actionable"])
