"""Reading drugdata/: every file against its schema, every source, class and code cross-checked, then built into
the frozen values of `values`."""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import yaml
from marshmallow import Schema, ValidationError, fields, validate

from .schemas import (
    AliasesFileSchema,
    ClassesFileSchema,
    ConditionsFileSchema,
    DoseFormsFileSchema,
    IngredientsFileSchema,
    ProceduresFileSchema,
    ReviewedSchema,
    SourceSchema,
    _Strict,
)
from .values import (
    DEFAULT_DRUGDATA,
    PROCEDURE_KEYWORDS,
    Amount,
    BeersStatement,
    Citation,
    ConditionCodes,
    CourseLimit,
    DoseDependentClasses,
    DoseForm,
    DrugClass,
    DrugHolds,
    Effect,
    EffectiveDose,
    HepaticFact,
    Hold,
    Ingredient,
    KnowledgeBase,
    KnowledgeBaseError,
    MaxDailyDose,
    MmeFactor,
    ProcedureGuidance,
    ProcedureTier,
    Product,
    ProductIngredient,
    RenalBand,
    RenalHold,
    Review,
    RxNormConcept,
    SaltEquivalent,
    Taper,
    TolerantOnly,
)


# -------------------------------------------------------------------------------------------------- loading
def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict as (dotted.field.path, message) pairs."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(prefix, "; ".join(messages))]
    return [(prefix, str(messages))]


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise KnowledgeBaseError(f"{path.name}: not valid YAML: {error}") from None


def load_checked(schema: Schema, data: Any, where: str) -> dict:
    """`data` as `schema` loads it, or a KnowledgeBaseError naming where it stands and every bad field (the config
    files' loaders: "rules.yaml: rule 'renal.band': field severity: ...")."""
    try:
        return schema.load(data)
    except ValidationError as error:
        problems = "; ".join(f"field {field}: {message}" for field, message in _flatten(error.messages))
        raise KnowledgeBaseError(f"{where}: {problems}") from None


def _load_with(schema: Schema, data: Any, path: Path, entries: list | None = None) -> dict:
    try:
        return schema.load(data)
    except ValidationError as error:
        problems = []
        for where, message in _flatten(error.messages):
            parts = where.split(".")
            if entries is not None and len(parts) >= 2 and parts[0] == "ingredients" and parts[1].isdigit():
                index = int(parts[1])
                raw = entries[index] if index < len(entries) else None
                name = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
                problems.append(f"{path.name}: entry {name!r}: field {'.'.join(parts[2:]) or '(entry)'}: {message}")
            else:
                problems.append(f"{path.name}: field {where}: {message}")
        raise KnowledgeBaseError("\n".join(problems)) from None


class Citations:
    """Turns `"<source-id>: <locator>"` into a Citation, or fails naming where the bad citation stands."""

    def __init__(self, registry: Mapping[str, dict[str, str]]) -> None:
        self.registry = registry

    def cite(self, text: str, where: str) -> Citation:
        source_id, _, locator = text.partition(": ")
        entry = self.registry.get(source_id)
        if entry is None:
            raise KnowledgeBaseError(f"{where}: source {source_id!r} is not a registered source")
        if not locator.strip():
            raise KnowledgeBaseError(f"{where}: source {text!r} needs a locator ('<source-id>: <table or section>')")
        return Citation(source_id, locator, entry["title"], entry["url"], entry["edition"])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _rxnorm_rows(directory: Path, stem: str) -> list[dict[str, str]]:
    rows = _read_csv(directory / f"{stem}.csv")
    supplement = directory / f"supplement_{stem}.csv"
    if supplement.exists():
        rows += _read_csv(supplement)
    return rows


def _load_concepts(directory: Path) -> dict[str, RxNormConcept]:
    concepts = {}
    for row in _rxnorm_rows(directory, "ingredients"):
        parts = tuple(code for code in row["in_rxcui"].split(";") if code and code != "?")
        concepts[row["rxcui"]] = RxNormConcept(row["rxcui"], row["name"], row["tty"], parts)
    # Every ingredient (IN) of the prescribable content too, so that an ingredient the knowledge base adds later
    # (ondansetron, clarithromycin ...) is checked against RxNorm's own code; the subset's rows win.
    prescribable = directory / "prescribable" / "ingredients.csv.gz"
    if prescribable.exists():
        with gzip.open(prescribable, "rt", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["tty"] == "IN" and row["rxcui"] not in concepts:
                    concepts[row["rxcui"]] = RxNormConcept(row["rxcui"], row["name"], "IN", (row["rxcui"],))
    return concepts


def _load_products(directory: Path, scope_names: dict[str, str]) -> dict[str, Product]:
    rows_by_product: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _rxnorm_rows(directory, "products"):
        rows_by_product[row["rxcui"]].append(row)
    products = {}
    for rxcui, rows in rows_by_product.items():
        first = rows[0]
        seen: dict[str, ProductIngredient] = {}
        for row in rows:
            code = row["ingredient_rxcui"]
            if code in seen:  # a pack repeats an ingredient per contained drug: keep the first strength
                continue
            in_scope = bool(row["ingredient_in_scope"]) or code in scope_names
            seen[code] = ProductIngredient(
                rxcui=code,
                name=scope_names.get(code, row["ingredient_name"].lower()),
                in_scope=in_scope,
                strength_value=float(row["strength_value"]) if row["strength_value"] else None,
                strength_unit=row["strength_unit"].lower() or None,
                strength_basis=row["strength_basis"] or None,
            )
        named = int(first["n_ingredients_in_name"] or 0)
        products[rxcui] = Product(
            rxcui=rxcui, name=first["name"], tty=first["tty"], dose_form=first["dose_form"] or None,
            brand=first["brand_name"] or None, ingredients=tuple(seen.values()),
            complete=named <= len(seen) or first["tty"] in ("GPCK", "BPCK"), source=first["source"])
    return products


def _merge_effects(class_keys: Iterable[str], classes: dict[str, DrugClass],
                   overrides: Mapping[str, Effect]) -> dict[str, Effect]:
    merged: dict[str, Effect] = {}
    for key in class_keys:
        for name, effect in classes[key].effects.items():
            if name not in merged or effect.grade > merged[name].grade:
                merged[name] = effect
    merged.update(overrides)
    return merged


def load(directory: Path | str = DEFAULT_DRUGDATA) -> KnowledgeBase:
    """Read, validate and cross-check drugdata/. Raises `KnowledgeBaseError` on the first bad file."""
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".csv", ".gz", ".tsv"):  # .gz: prescribable content, .tsv: EPC
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())

    registry_path = root / "sources.yaml"
    raw_registry = _read_yaml(registry_path) or {}
    registry: dict[str, dict[str, str]] = {}
    for source_id, entry in raw_registry.items():
        registry[source_id] = _load_with(SourceSchema(), entry, registry_path)

    ingredient_files = sorted((root / "ingredients").glob("*.yaml"))
    raw_files = {path: _read_yaml(path) for path in ingredient_files}
    loaded_files = {}
    for path, raw in raw_files.items():
        entries = raw.get("ingredients") if isinstance(raw, dict) else None
        loaded = _load_with(IngredientsFileSchema(), raw, path, entries if isinstance(entries, list) else None)
        _register_sources(registry, loaded["sources"], path)
        loaded_files[path] = loaded
    citations = Citations(registry)

    classes_path = root / "classes.yaml"
    raw_classes = _load_with(ClassesFileSchema(), _read_yaml(classes_path), classes_path)["classes"]
    classes = {
        key: DrugClass(key, spec["label"], spec["systemic"], {
            name: Effect(e["grade"], citations.cite(e["source"], f"classes.yaml: class {key!r}: effects.{name}"))
            for name, e in spec["effects"].items()})
        for key, spec in raw_classes.items()
    }

    concepts = _load_concepts(root / "rxnorm")
    ingredients: dict[str, Ingredient] = {}
    for path, loaded in loaded_files.items():
        file_review = Review(**loaded["reviewed"])
        for spec in loaded["ingredients"]:
            ingredient = _build_ingredient(spec, path.name, file_review, classes, citations, concepts)
            if ingredient.name in ingredients:
                raise KnowledgeBaseError(
                    f"{path.name}: entry {ingredient.name!r}: field name: already defined in "
                    f"{ingredients[ingredient.name].file}")
            ingredients[ingredient.name] = ingredient
    epc_path = root / "epc_classes.yaml"
    raw_epc = _read_epc(epc_path)
    _register_sources(registry, raw_epc["sources"], epc_path)
    for ingredient in _epc_ingredients(raw_epc, root, classes, citations, ingredients):
        ingredients[ingredient.name] = ingredient

    scope_names = {ingredient.rxcui: ingredient.name for ingredient in ingredients.values()}
    products = _load_products(root / "rxnorm", scope_names)
    forms_path = root / "dose_forms.yaml"
    raw_forms = _load_with(DoseFormsFileSchema(), _read_yaml(forms_path), forms_path)
    citations.cite(raw_forms["source"], "dose_forms.yaml: field source")
    dose_forms = tuple(sorted((DoseForm(f["pattern"].lower(), f["route"], f["extended_release"])
                               for f in raw_forms["dose_forms"]), key=lambda form: -len(form.pattern)))

    conditions_path = root / "conditions.yaml"
    raw_conditions = _load_with(ConditionsFileSchema(), _read_yaml(conditions_path), conditions_path)
    conditions = {}
    for keyword, spec in raw_conditions["conditions"].items():
        for code in spec["snomed"] + spec["icd10_prefixes"]:
            if code["source"] not in raw_conditions["sources"]:
                raise KnowledgeBaseError(f"conditions.yaml: condition {keyword!r}: source {code['source']!r} is not in "
                                         "its sources")
        conditions[keyword] = _condition_codes(keyword, spec, root / "valuesets", raw_conditions["sources"],
                                               citations)

    procedure_guidance = _load_procedures(root / "procedures.yaml", registry, ingredients)
    aliases = _load_aliases(root / "aliases.yaml", registry, products)
    from ..interactions import load_interactions  # its own module: the table and its schema
    interactions = load_interactions(root / "interactions.yaml", registry, ingredients, classes)

    newest_review = max((i.reviewed.checked_on for i in ingredients.values()), default=dt.date.min)
    version = f"{newest_review.isoformat()}+{digest.hexdigest()[:10]}"
    return KnowledgeBase(ingredients, classes, registry, concepts, products, dose_forms,
                         dict(raw_forms["text_hints"]), conditions, procedure_guidance, aliases, version,
                         rxnorm_dir=root / "rxnorm", interactions=interactions)


# ------------------------------------------------------------------- class membership from the FDA EPC
class _EpcTopicalSchema(_Strict):
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    source = fields.String(required=True)


class _EpcSchema(_Strict):
    classes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    topical = fields.Nested(_EpcTopicalSchema, load_default=None)
    # ingredient (RxNorm IN name) -> why the EPC names it but the class does not mean it
    except_ = fields.Dict(keys=fields.String(), values=fields.String(validate=validate.Length(min=10)),
                          data_key="except", load_default=dict)


class _EpcFileSchema(_Strict):
    reviewed = fields.Nested(ReviewedSchema, required=True)
    sources = fields.Dict(keys=fields.String(), values=fields.Nested(SourceSchema), load_default=dict)
    table = fields.String(required=True)
    source = fields.String(required=True)
    systemic_routes = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    salt_words = fields.List(fields.String(), load_default=list)
    epc = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^.+ \[EPC\]$")), values=fields.Nested(_EpcSchema),
                      required=True)


class EpcMember(NamedTuple):
    """An RxNorm ingredient that the FDA EPC of its products puts in classes of classes.yaml."""
    rxcui: str  # RxNorm IN
    name: str  # the IN name
    epcs: tuple[str, ...]  # the mapped EPC names its single-substance, systemic-route products carry
    classes: tuple[str, ...]  # class keys, in the order of the mapping


def _read_epc(path: Path) -> dict:
    return _load_with(_EpcFileSchema(), _read_yaml(path), path)


def _rxnorm_in_by_name(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """IN and PIN names of the prescribable content -> the IN's RxCUI, and IN RxCUI -> IN name."""
    by_name: dict[str, str] = {}
    in_names: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["tty"] == "IN":
                in_names[row["rxcui"]] = row["name"]
            if row["tty"] in ("IN", "PIN") and row["in_rxcui"].isdigit():
                by_name[row["name"].lower()] = row["in_rxcui"]
    return by_name, in_names


def _substance_in(substance: str, by_name: Mapping[str, str], salt_words: frozenset[str]) -> str | None:
    """The RxNorm IN a SUBSTANCENAME names: itself, a salt (PIN), or an IN/PIN name followed only by salt words."""
    words = substance.lower().split()
    for cut in range(len(words), 0, -1):
        if all(word in salt_words for word in words[cut:]) and " ".join(words[:cut]) in by_name:
            return by_name[" ".join(words[:cut])]
    return None


def _epc_members(raw: dict, root: Path) -> list[EpcMember]:
    by_name, in_names = _rxnorm_in_by_name(root / "rxnorm" / "prescribable" / "ingredients.csv.gz")
    systemic, salt_words = set(raw["systemic_routes"]), frozenset(raw["salt_words"])
    found: dict[str, dict[str, None]] = defaultdict(dict)  # IN RxCUI -> its mapped EPCs, in table order
    with (root / raw["table"]).open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t",
                              quoting=csv.QUOTE_NONE)
        for row in rows:
            substances = [s for s in row["SUBSTANCENAME"].split("; ") if s]
            # a combination's classes cannot be told apart per substance; an eye- or skin-only listing is not systemic
            if len(substances) != 1 or not systemic & {r.strip() for r in row["ROUTENAME"].split(";")}:
                continue
            rxcui = _substance_in(substances[0], by_name, salt_words)
            if rxcui is None or rxcui not in in_names:
                continue
            for epc in (c.strip() for c in row["PHARM_CLASSES"].split(",")):
                spec = raw["epc"].get(epc)
                if spec is not None and in_names[rxcui] not in spec["except_"]:
                    found[rxcui][epc] = None
    return [EpcMember(rxcui, in_names[rxcui], tuple(epcs),
                      tuple(dict.fromkeys(key for epc in epcs for key in raw["epc"][epc]["classes"])))
            for rxcui, epcs in sorted(found.items(), key=lambda item: in_names[item[0]])]


def epc_members(directory: Path | str = DEFAULT_DRUGDATA) -> list[EpcMember]:
    """Every RxNorm ingredient drugdata/epc_classes.yaml puts in a class, hand-defined ones included."""
    root = Path(directory)
    return _epc_members(_read_epc(root / "epc_classes.yaml"), root)


def _epc_ingredients(raw: dict, root: Path, classes: Mapping[str, DrugClass], citations: Citations,
                     defined: Mapping[str, Ingredient]) -> list[Ingredient]:
    """A minimal ingredient for each EPC member that drugdata/ingredients/ does not define: its classes and their
    default effects, no maxima or other facts; its `file` says which FDA EPC put it there."""
    where = "epc_classes.yaml"
    citations.cite(raw["source"], f"{where}: field source")
    topical_sources = {}
    for epc, spec in raw["epc"].items():
        for key in spec["classes"] + (spec["topical"]["classes"] if spec["topical"] else []):
            if key not in classes:
                raise KnowledgeBaseError(f"{where}: epc {epc!r}: unknown class {key!r} (not in classes.yaml)")
        if spec["topical"]:
            topical_sources[epc] = citations.cite(spec["topical"]["source"], f"{where}: epc {epc!r}: topical.source")
    hand = {ingredient.rxcui for ingredient in defined.values()}
    review = Review(**raw["reviewed"])
    made = []
    for member in _epc_members(raw, root):
        if member.rxcui in hand or member.name in defined:
            continue
        topical_epcs = [epc for epc in member.epcs if epc in topical_sources]
        made.append(Ingredient(
            name=member.name, rxcui=member.rxcui, synonyms=(), salts=(), brands=(), classes=member.classes, routes=(),
            effects=_merge_effects(member.classes, dict(classes), {}), own_effects={},
            topical_classes=tuple(dict.fromkeys(key for epc in topical_epcs
                                                for key in raw["epc"][epc]["topical"]["classes"])),
            topical_source=topical_sources[topical_epcs[0]] if topical_epcs else None,
            max_daily_doses=(), renal=(), hepatic=(), mme_factors=(), beers=(), effective_dose=None, taper=None,
            reviewed=review, file=f"{where}: class from FDA EPC {', '.join(member.epcs)}"))
    return made


def _condition_codes(keyword: str, spec: dict, valuesets: Path, sources: Mapping[str, Any],
                     citations: "Citations") -> ConditionCodes:
    """A keyword's codes: those listed in conditions.yaml and every code of its value sets (drugdata/valuesets/*.csv,
    each with its provenance in its header), and the phrases the text fallback matches (displays and synonyms)."""
    from ..conditions import normalise  # the one normalisation, shared with the matching

    snomed = {c["code"] for c in spec["snomed"]}
    icd10: set[str] = set()
    phrases = {normalise(c["display"]) for c in spec["snomed"]} | {normalise(s) for s in spec["synonyms"]}
    for use in spec["value_sets"]:
        if use["source"] not in sources:
            raise KnowledgeBaseError(f"conditions.yaml: condition {keyword!r}: value set source {use['source']!r} is "
                                     "not in its sources")
        within = tuple(p.replace(".", "") for p in use["icd10_within"])
        path = valuesets / use["file"]
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
        except OSError as error:
            raise KnowledgeBaseError(f"conditions.yaml: condition {keyword!r}: value set {use['file']}: {error}") \
                from None
        for row in rows:
            if row["system"] == "snomed":
                snomed.add(row["code"])
            elif row["system"] == "icd10cm":
                bare = row["code"].replace(".", "").upper()
                if within and not bare.startswith(within):
                    continue
                icd10.add(bare)
            else:
                raise KnowledgeBaseError(f"valuesets/{use['file']}: code {row['code']!r}: unknown system "
                                         f"{row['system']!r} (snomed or icd10cm)")
            if row["display"]:
                phrases.add(normalise(row["display"]))
    if spec["history_source"]:
        citations.cite(spec["history_source"], f"conditions.yaml: condition {keyword!r}: field history_source")
    phrases.discard("")
    return ConditionCodes(keyword, frozenset(snomed), tuple(p["prefix"].replace(".", "") for p in spec["icd10_prefixes"]),
                          tuple(spec["implies"]), frozenset(icd10), frozenset(phrases), spec["counts_when_resolved"])


def _register_sources(registry: dict[str, dict[str, str]], sources: Mapping[str, dict[str, str]], path: Path) -> None:
    """Add a file's own citations to the registry; an id is defined once in the whole knowledge base."""
    for source_id, entry in sources.items():
        if source_id in registry:
            raise KnowledgeBaseError(f"{path.name}: field sources.{source_id}: id already registered elsewhere")
        registry[source_id] = entry


def _load_aliases(path: Path, registry: dict[str, dict[str, str]], products: dict[str, Product]) -> dict[str, str]:
    raw = _load_with(AliasesFileSchema(), _read_yaml(path), path)
    _register_sources(registry, raw["sources"], path)
    citations = Citations(registry)
    aliases = {}
    for index, alias in enumerate(raw["aliases"]):
        citations.cite(alias["source"], f"{path.name}: aliases[{index}]")
        if alias["rxcui"] not in products:
            raise KnowledgeBaseError(f"{path.name}: aliases[{index}]: field rxcui: {alias['rxcui']} is not a product of "
                                     "the offline RxNorm subset")
        aliases[alias["text"].lower()] = alias["rxcui"]
    return aliases


def _load_procedures(path: Path, registry: dict[str, dict[str, str]],
                     ingredients: dict[str, Ingredient]) -> ProcedureGuidance:
    """drugdata/procedures.yaml: procedure risk tiers and peri-procedural holds (ASRA Pain Medicine guidance)."""
    raw = _load_with(ProceduresFileSchema(), _read_yaml(path), path)
    _register_sources(registry, raw["sources"], path)  # findings cite these like any other source
    citations = Citations(registry)
    procedures = {}
    for keyword, spec in raw["procedures"].items():
        if keyword not in PROCEDURE_KEYWORDS:
            raise KnowledgeBaseError(f"{path.name}: procedure {keyword!r}: not a contract procedure keyword")
        procedures[keyword] = ProcedureTier(keyword, spec["tier"], spec["label"], dict(spec["levels"]),
                                            citations.cite(spec["source"], f"{path.name}: procedure {keyword!r}"))
    missing = set(PROCEDURE_KEYWORDS) - set(procedures)
    if missing:
        raise KnowledgeBaseError(f"{path.name}: field procedures: no tier for {', '.join(sorted(missing))}")
    drugs = {}
    for index, spec in enumerate(raw["drugs"]):
        name = spec["ingredient"]
        where = f"{path.name}: drugs[{index}] {name!r}"
        if name not in ingredients:
            raise KnowledgeBaseError(f"{where}: field ingredient: not an ingredient of the knowledge base")
        drugs[name] = DrugHolds(
            name,
            tuple(Hold(tuple(h["tiers"]), h["hold_days"], h["hold_hours"], h["restart_hours"], h["restart_hours_max"],
                       h["conditional"], h["route"], h["dose"], h["indication"], h["note"],
                       citations.cite(h["source"], f"{where}: holds"), h["unverified"], h["label_floor"])
                  for h in spec["holds"]),
            tuple(RenalHold(r["crcl_below"], tuple(r["tiers"]), r["hold_days"], r["note"],
                            citations.cite(r["source"], f"{where}: renal"), r["unverified"]) for r in spec["renal"]),
            spec["consult"], spec["check_inr"])
    return ProcedureGuidance(raw["edition"], procedures, drugs, Review(**raw["reviewed"]))


def _build_ingredient(spec: dict, file: str, file_review: Review, classes: dict[str, DrugClass],
                      citations: Citations, concepts: dict[str, RxNormConcept]) -> Ingredient:
    name = spec["name"]
    where = f"{file}: entry {name!r}"

    def cite(text: str, field_name: str) -> Citation:
        return citations.cite(text, f"{where}: field {field_name}")

    for key in spec["classes"] + (spec["topical"]["classes"] if spec["topical"] else []):
        if key not in classes:
            raise KnowledgeBaseError(f"{where}: field classes: unknown class {key!r} (not in classes.yaml)")
    for i, statement in enumerate(spec["beers"]):
        for key in statement["except_with_classes"]:
            if key not in classes:
                raise KnowledgeBaseError(f"{where}: field beers[{i}].except_with_classes: unknown class {key!r}")
    for salt in spec["salt_equivalents"]:
        if salt not in spec["salts"]:
            raise KnowledgeBaseError(f"{where}: field salt_equivalents.{salt}: not one of the entry's salts")
    for i, limit in enumerate(spec["max_daily_dose"]):
        if limit["basis"] is not None and limit["basis"] not in spec["salt_equivalents"]:
            raise KnowledgeBaseError(f"{where}: field max_daily_dose[{i}].basis: {limit['basis']!r} has no "
                                     "salt_equivalents entry")
    concept = concepts.get(spec["rxcui"])
    if concept is None or concept.tty != "IN":
        raise KnowledgeBaseError(
            f"{where}: field rxcui: {spec['rxcui']} is not an RxNorm ingredient (IN) in drugdata/rxnorm/")

    overrides = {effect: Effect(e["grade"], cite(e["source"], f"effects.{effect}"))
                 for effect, e in spec["effects"].items()}

    def amount(raw: dict | None) -> Amount | None:
        return Amount(raw["value"], raw["unit"]) if raw else None

    topical = spec["topical"]
    return Ingredient(
        name=name,
        rxcui=spec["rxcui"],
        synonyms=tuple(spec["synonyms"]),
        salts=tuple(spec["salts"]),
        brands=tuple(spec["brands"]),
        classes=tuple(spec["classes"]),
        routes=tuple(spec["routes"]),
        effects=_merge_effects(spec["classes"], classes, overrides),
        own_effects=overrides,
        topical_classes=tuple(topical["classes"]) if topical else (),
        topical_source=cite(topical["source"], "topical.source") if topical else None,
        max_daily_doses=tuple(
            MaxDailyDose(d["population"], d["route"], Amount(d["value"], d["unit"]), d["min_age"], d["release"],
                         d["note"], cite(d["source"], f"max_daily_dose[{i}].source"), d["weight_below_kg"],
                         d["from_day"], d["basis"], d["severity"], d["unverified"])
            for i, d in enumerate(spec["max_daily_dose"])),
        salt_equivalents={salt: SaltEquivalent(salt, e["salt_mg"], e["base_mg"],
                                               cite(e["source"], f"salt_equivalents.{salt}.source"))
                          for salt, e in spec["salt_equivalents"].items()},
        course_limit=CourseLimit(spec["course_limit"]["max_days"], spec["course_limit"]["note"],
                                 cite(spec["course_limit"]["source"], "course_limit.source"))
        if spec["course_limit"] else None,
        opioid_tolerant_only=TolerantOnly(tuple(spec["opioid_tolerant_only"]["routes"]),
                                          spec["opioid_tolerant_only"]["note"],
                                          cite(spec["opioid_tolerant_only"]["source"], "opioid_tolerant_only.source"))
        if spec["opioid_tolerant_only"] else None,
        dose_dependent_classes=tuple(
            DoseDependentClasses(tuple(d["classes"]), d["above_mg_per_day"],
                                 cite(d["source"], f"dose_dependent_classes[{i}].source"))
            for i, d in enumerate(spec["dose_dependent_classes"])),
        renal=tuple(
            RenalBand(b["crcl_from"], b["crcl_above"], b["crcl_below"], b["crcl_at_most"], b["dialysis"], b["route"],
                      b["release"], b["action"],
                      amount(b["max_daily_dose"]), b["note"], cite(b["source"], f"renal[{i}].source"),
                      b["min_interval_hours"], b["unverified"], b["applies_to"])
            for i, b in enumerate(spec["renal"])),
        hepatic=tuple(
            HepaticFact(h["severity_class"], h["action"], amount(h["max_daily_dose"]), h["note"],
                        cite(h["source"], f"hepatic[{i}].source"), h["release"], h["unverified"], h["applies_to"])
            for i, h in enumerate(spec["hepatic"])),
        mme_factors=tuple(
            MmeFactor(m["route"], m["dose_unit"], m["value"], m["note"], cite(m["source"], f"mme_factors[{i}]"))
            for i, m in enumerate(spec["mme_factors"])),
        beers=tuple(
            BeersStatement(b["table"], b["recommendation"], b["condition"], b["min_age"], b["carried_by"],
                           b["severity"], b["note"], cite(b["source"], f"beers[{i}].source"),
                           tuple(b["except_with_classes"]), b["unverified"])
            for i, b in enumerate(spec["beers"])),
        effective_dose=EffectiveDose(
            Amount(spec["effective_dose"]["value"], spec["effective_dose"]["unit"]), spec["effective_dose"]["note"],
            cite(spec["effective_dose"]["source"], "effective_dose.source")) if spec["effective_dose"] else None,
        taper=Taper(spec["taper"]["min_days"], spec["taper"]["note"], cite(spec["taper"]["source"], "taper.source"))
        if spec["taper"] else None,
        reviewed=Review(**spec["reviewed"]) if spec["reviewed"] else file_review,
        file=file,
    )


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    try:
        kb = load(args[0] if args else DEFAULT_DRUGDATA)
    except KnowledgeBaseError as error:
        print(f"drugdata is invalid:\n{error}", file=sys.stderr)
        return 1
    print(f"drugdata {kb.version}: {len(kb.ingredients)} ingredients, {len(kb.classes)} classes, "
          f"{len(kb.products)} products, {len(kb.sources)} sources: valid")
    return 0
