"""drugdata/interactions.yaml: drug-drug interactions as a table, loaded and checked with the knowledge base.

A row says which drugs (`objects`, each with the label statement it rests on) are changed by which others (the
`perpetrators`: named ingredients, knowledge-base classes, or groups such as the FDA's CYP3A4 inhibitors), what
happens, how severe it is and which finding category carries it. One rule function per category reads the table
(stewardship/rules/interactions.py); adding an interaction is a data change.

Governance is in the schema: a fact read only in a secondary copy carries `unverified: <why>` and raises `info` at
most, whatever the row's severity; every citation must name a registered source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .knowledge import (
    Citation,
    Citations,
    DrugClass,
    Ingredient,
    KnowledgeBaseError,
    ReviewedSchema,
    SourceSchema,
    _flatten,
    _read_yaml,
    _register_sources,
    _source_field,
)

# Finding categories an interaction can be filed under (contract section 1); each has one rule in config/rules.yaml.
INTERACTION_CATEGORIES = ("sedation", "serotonergic", "opioid")
SEVERITIES = ("critical", "warning", "info")
STRENGTHS = ("strong", "moderate")


def _unverified() -> fields.String:
    return fields.String(load_default=None, validate=validate.Length(min=10))


class MemberSchema(Schema):
    ingredient = fields.String(required=True)
    # the FDA table's own word for the strength of inhibition or induction, where the table gives one
    strength = fields.String(load_default=None, validate=validate.OneOf(STRENGTHS))
    source = _source_field()
    unverified = _unverified()


class GroupSchema(Schema):
    label = fields.String(required=True)
    members = fields.List(fields.Nested(MemberSchema), load_default=list)
    classes = fields.List(fields.String(), load_default=list)  # every ingredient of these classes belongs
    classes_source = fields.String(load_default=None)

    @validates_schema
    def _has_members(self, data: dict, **_: Any) -> None:
        if not data["members"] and not data["classes"]:
            raise ValidationError("a group needs members or classes", "members")
        if data["classes"] and not data["classes_source"]:
            raise ValidationError("class membership cites where the class is named", "classes_source")


class ObjectSchema(Schema):
    ingredient = fields.String(required=True)
    source = _source_field()
    unverified = _unverified()


class InteractionSchema(Schema):
    enabled = fields.Boolean(load_default=True)
    category = fields.String(required=True, validate=validate.OneOf(INTERACTION_CATEGORIES))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    # the severity when every perpetrator present is only a moderate one by the FDA's table (a local choice, said so)
    severity_moderate = fields.String(load_default=None, validate=validate.OneOf(SEVERITIES))
    objects = fields.List(fields.Nested(ObjectSchema), required=True, validate=validate.Length(min=1))
    perpetrators = fields.List(fields.String(), load_default=list)  # group keys
    perpetrator_ingredients = fields.List(fields.String(), load_default=list)
    summary = fields.String(required=True)  # "{perpetrators}" and "{object}" are filled in
    detail = fields.String(required=True)
    advice = fields.String(required=True)
    sources = fields.List(_source_field(), load_default=list)  # documents for the row as a whole

    @validates_schema
    def _has_perpetrators(self, data: dict, **_: Any) -> None:
        if not data["perpetrators"] and not data["perpetrator_ingredients"]:
            raise ValidationError("name perpetrators (groups) or perpetrator_ingredients", "perpetrators")


class InteractionsFileSchema(Schema):
    reviewed = fields.Nested(ReviewedSchema, required=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(SourceSchema), load_default=dict)
    groups = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9_]+$")),
                         values=fields.Nested(GroupSchema), required=True)
    interactions = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[a-z0-9_]+$")),
                               values=fields.Nested(InteractionSchema), required=True)


# ---------------------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Fact:
    """Why one drug belongs where the table puts it: its citation, and why it is not verified (None: verified)."""
    ingredient: str
    source: Citation
    unverified: str | None = None
    strength: str | None = None


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    members: tuple[Fact, ...]
    classes: tuple[str, ...]
    classes_source: Citation | None

    def fact_for(self, ingredient: Ingredient) -> Fact | None:
        for member in self.members:
            if member.ingredient == ingredient.name:
                return member
        if self.classes_source and set(self.classes).intersection(ingredient.classes):
            return Fact(ingredient.name, self.classes_source)
        return None


@dataclass(frozen=True)
class Interaction:
    key: str
    enabled: bool
    category: str
    severity: str
    severity_moderate: str | None
    objects: tuple[Fact, ...]
    groups: tuple[Group, ...]
    perpetrator_facts: tuple[Fact, ...]  # named ingredients (the object's label names them itself)
    summary: str
    detail: str
    advice: str
    sources: tuple[Citation, ...]
    # `objects` by ingredient (the first fact for a name): every check asks about each of its drugs
    _objects_by_name: dict[str, Fact] = field(init=False, repr=False, compare=False)
    # perpetrator_fact's answers by ingredient and its classes, filled as checks ask (the row does not change)
    _perpetrators: dict[tuple[str, tuple[str, ...]], Fact | None] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Fact] = {}
        for fact in self.objects:
            by_name.setdefault(fact.ingredient, fact)
        object.__setattr__(self, "_objects_by_name", by_name)  # frozen: set as dataclasses' own __init__ does

    def perpetrator_fact(self, ingredient: Ingredient) -> Fact | None:
        key = (ingredient.name, ingredient.classes)
        if key not in self._perpetrators:
            self._perpetrators[key] = self._perpetrator_fact(ingredient)
        return self._perpetrators[key]

    def _perpetrator_fact(self, ingredient: Ingredient) -> Fact | None:
        for fact in self.perpetrator_facts:
            if fact.ingredient == ingredient.name:
                return fact
        for group in self.groups:
            found = group.fact_for(ingredient)
            if found is not None:
                return found
        return None

    def object_fact(self, name: str) -> Fact | None:
        return self._objects_by_name.get(name)


# ---------------------------------------------------------------------------------------------------- loading
def load_interactions(path: Path, registry: dict[str, dict[str, str]], ingredients: Mapping[str, Ingredient],
                      classes: Mapping[str, DrugClass]) -> tuple[Interaction, ...]:
    """Read drugdata/interactions.yaml; every ingredient, class and source it names must exist."""
    if not path.exists():
        return ()
    try:
        raw = InteractionsFileSchema().load(_read_yaml(path))
    except ValidationError as error:
        problems = "; ".join(f"field {where}: {message}" for where, message in _flatten(error.messages))
        raise KnowledgeBaseError(f"{path.name}: {problems}") from None
    _register_sources(registry, raw["sources"], path)
    citations = Citations(registry)

    def ingredient(name: str, where: str) -> str:
        if name not in ingredients:
            raise KnowledgeBaseError(f"{path.name}: {where}: {name!r} is not an ingredient of the knowledge base")
        return name

    groups = {}
    for key, spec in raw["groups"].items():
        where = f"group {key!r}"
        for klass in spec["classes"]:
            if klass not in classes:
                raise KnowledgeBaseError(f"{path.name}: {where}: field classes: unknown class {klass!r}")
        members = tuple(Fact(ingredient(m["ingredient"], f"{where}: members"),
                             citations.cite(m["source"], f"{path.name}: {where}: {m['ingredient']}"),
                             m["unverified"], m["strength"]) for m in spec["members"])
        groups[key] = Group(key, spec["label"], members, tuple(spec["classes"]),
                            citations.cite(spec["classes_source"], f"{path.name}: {where}: classes_source")
                            if spec["classes_source"] else None)

    interactions = []
    for key, spec in raw["interactions"].items():
        where = f"interaction {key!r}"
        for group in spec["perpetrators"]:
            if group not in groups:
                raise KnowledgeBaseError(f"{path.name}: {where}: field perpetrators: unknown group {group!r}")
        objects = tuple(Fact(ingredient(o["ingredient"], f"{where}: objects"),
                             citations.cite(o["source"], f"{path.name}: {where}: {o['ingredient']}"), o["unverified"])
                        for o in spec["objects"])
        named = tuple(Fact(ingredient(name, f"{where}: perpetrator_ingredients"), objects[0].source)
                      for name in spec["perpetrator_ingredients"])
        interactions.append(Interaction(
            key, spec["enabled"], spec["category"], spec["severity"], spec["severity_moderate"], objects,
            tuple(groups[g] for g in spec["perpetrators"]), named, spec["summary"], spec["detail"], spec["advice"],
            tuple(citations.cite(s, f"{path.name}: {where}: sources") for s in spec["sources"])))
    return tuple(interactions)
