"""Terminology: what a drug line is.

Free text ("Norco 10/325", "oxycodone HCl 5 mg tab", "advil", "ibuprofin") or an RxNorm coding of any term type
(IN, PIN, MIN, SCD, SBD, GPCK, BPCK) becomes its ingredients, with the strength per unit where the input fixes
one. Input that cannot be identified becomes an `Unresolved` value that says why: never an exception, never a
silent guess. Everything is offline (drugdata/rxnorm); an optional `RemoteTerminology` (RxNav) is asked only for
what the offline subset does not know.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Protocol

from .knowledge import KnowledgeBase, Product

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# RxNorm strength units as people and FHIR write them.
_UNIT_SPELLING = {"mg": "mg", "mcg": "mcg", "g": "g", "mg/ml": "mg/mL", "mg/hr": "mg/h", "mcg/hr": "mcg/h",
                  "mg/actuat": "mg/actuat", "mg/mg": "mg/mg", "unt": "[iU]", "unt/ml": "[iU]/mL",
                  "unt/mg": "[iU]/mg", "ml/ml": "mL/mL", "mcg/actuat": "mcg/actuat"}
# Strengths compared on one scale: masses in mg, patch rates in mg/h (RxNorm writes fentanyl 25 mcg/h as 0.025 MG/HR).
_CANONICAL = {"mg": (1.0, "mg"), "mcg": (0.001, "mg"), "g": (1000.0, "mg"), "mg/h": (1.0, "mg/h"),
              "mg/hr": (1.0, "mg/h"), "mcg/h": (0.001, "mg/h"), "mcg/hr": (0.001, "mg/h")}


def _canonical(value: float, unit: str | None) -> float:
    factor, _ = _CANONICAL.get(unit or "mg", (1.0, unit))
    return round(value * factor, 6)

# "5", "0.5 mg", "10/325", "25 mcg/h", "650mg"; a number followed by a count or a time word is not a strength.
_STRENGTH = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)*)\s*(mcg/hr|mcg/h|mg/hr|mg/h|mg/ml|mg|mcg|ug|g|%)?(?![a-z])")
_NOT_A_STRENGTH = re.compile(r"\s*(?:tab|cap|hr|hour|h\b|day|week|patch|puff|x\b|times)")
_WORD = re.compile(r"[a-z][a-z-]*[a-z]|[a-z]")


@dataclass(frozen=True)
class Strength:
    value: float
    unit: str

    def as_json(self) -> dict:
        return {"value": self.value, "unit": self.unit}


@dataclass(frozen=True)
class ResolvedIngredient:
    name: str
    rxcui: str
    strength: Strength | None
    known: bool  # in the knowledge base, so the rules can check it


@dataclass(frozen=True)
class Resolution:
    input: str
    ingredients: tuple[ResolvedIngredient, ...]
    dose_form: str | None
    route: str | None  # from the dose form or the words typed; None when neither says
    extended_release: bool
    product_rxcui: str | None
    matched_by: str  # how: "rxcui:SCD", "text:brand", "text:ingredient", "rxnav" ...
    complete: bool = True  # False where RxNorm lists a co-ingredient the subset has no code for

    @property
    def resolved(self) -> bool:
        return True

    @property
    def unknown_ingredients(self) -> tuple[ResolvedIngredient, ...]:
        return tuple(i for i in self.ingredients if not i.known)


@dataclass(frozen=True)
class Unresolved:
    input: str
    reason: str
    ingredients: tuple = ()

    @property
    def resolved(self) -> bool:
        return False


class RemoteTerminology(Protocol):
    """An online terminology service (RxNav) asked only when the offline subset does not know an input."""

    def ingredients_for_rxcui(self, rxcui: str) -> list[tuple[str, str]] | None:
        """[(ingredient rxcui, ingredient name)] for any RxNorm concept, or None when unknown or unreachable."""

    def rxcui_for_text(self, text: str) -> str | None:
        """The best RxNorm concept for free text, or None."""


@dataclass(frozen=True)
class _Target:
    ingredients: tuple[str, ...]  # knowledge-base ingredient names
    brand: str | None
    kind: str  # ingredient | salt | synonym | brand | combination


def normalise(text: str) -> str:
    text = text.lower().replace("®", " ").replace("™", " ").replace("\u00b5", "u")
    text = re.sub(r"\bhcl\b", "hydrochloride", text)
    text = re.sub(r"\bw/\s*", "/ ", text)
    text = re.sub(r"[\[\](),;:+&]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or transposition)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and \
            a[diffs[1]] == b[diffs[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


class Resolver:
    """Resolves drug inputs against one knowledge base. Build once; `resolve_*` are pure look-ups."""

    MAX_PHRASE_WORDS = 4
    MIN_FUZZY_LENGTH = 4

    def __init__(self, kb: KnowledgeBase, remote: RemoteTerminology | None = None) -> None:
        self.kb = kb
        self.remote = remote
        self._phrases: dict[str, _Target] = {}
        self._products_by_name: dict[str, Product] = {}
        self._products_by_brand: dict[str, list[Product]] = defaultdict(list)
        self._products_by_set: dict[frozenset[str], list[Product]] = defaultdict(list)
        # longest first, so that "tylenol with codeine #3" wins over a shorter alias inside it
        self._aliases = sorted(((normalise(t), code) for t, code in kb.aliases.items()), key=lambda a: -len(a[0]))
        self._build()

    # ------------------------------------------------------------------------------------------------ index
    def _add(self, phrase: str, target: _Target) -> None:
        key = normalise(phrase)
        if key and key not in self._phrases:
            self._phrases[key] = target

    def _build(self) -> None:
        kb = self.kb
        for ingredient in kb.ingredients.values():
            self._add(ingredient.name, _Target((ingredient.name,), None, "ingredient"))
        for ingredient in kb.ingredients.values():
            for synonym in ingredient.synonyms:
                self._add(synonym, _Target((ingredient.name,), None, "synonym"))
            for salt in ingredient.salts:
                self._add(salt, _Target((ingredient.name,), None, "salt"))
        for concept in kb.concepts.values():  # RxNorm IN/PIN/MIN names, e.g. "oxycodone hydrochloride"
            names = tuple(kb.by_rxcui[c].name for c in concept.ingredient_rxcuis if c in kb.by_rxcui)
            if names and len(names) == len(concept.ingredient_rxcuis):
                self._add(concept.name, _Target(names, None, "combination" if len(names) > 1 else "salt"))

        for product in kb.products.values():
            self._products_by_name[normalise(product.name)] = product
            if product.complete:  # a product missing a co-ingredient must not pass for a single-ingredient one
                self._products_by_set[frozenset(i.name for i in product.ingredients)].append(product)
            if product.brand:
                self._products_by_brand[normalise(product.brand)].append(product)
        for brand_key, products in self._products_by_brand.items():
            names = self._brand_ingredients(products)
            if names:
                self._add(brand_key, _Target(names, brand_key, "brand"))
        for ingredient in kb.ingredients.values():  # brands the labels name that the subset has no product for
            for brand in ingredient.brands:
                self._add(brand, _Target((ingredient.name,), normalise(brand), "brand"))

        self._stopwords = set(kb.text_hints) | {"oral", "release", "delayed", "hydrochloride", "sodium",
                                                "potassium", "tablet", "capsule", "and", "with", "plus", "prn",
                                                "daily", "bid", "tid", "qid", "once", "twice", "mg", "mcg"}
        for form in kb.dose_forms:
            self._stopwords.update(form.pattern.split())
        self._fuzzy: dict[str, set[str]] = defaultdict(set)
        for key in self._phrases:
            if " " not in key and len(key) >= self.MIN_FUZZY_LENGTH:
                self._fuzzy[key].add(key)
                for variant in _deletes(key):
                    self._fuzzy[variant].add(key)

    def _brand_ingredients(self, products: list[Product]) -> tuple[str, ...]:
        """The in-scope ingredients a brand stands for: those every product of the brand has in common."""
        sets = [tuple(i.name for i in p.ingredients if i.in_scope) for p in products]
        common = set(sets[0]).intersection(*map(set, sets[1:])) if sets else set()
        return tuple(name for name in sets[0] if name in common) if common else ()

    # -------------------------------------------------------------------------------------------- resolving
    def resolve(self, drug: object) -> Resolution | Unresolved:
        """A drug input as the API takes it: free text, or a coding `{"system", "code"}`."""
        if isinstance(drug, str):
            return self.resolve_text(drug)
        if isinstance(drug, dict):
            system, code = drug.get("system"), drug.get("code")
            if system not in (None, RXNORM_SYSTEM):
                return Unresolved(f"{system}|{code}", f"code system {system!r} is not RxNorm")
            return self.resolve_rxcui(str(code) if code is not None else "")
        return Unresolved(repr(drug), "a drug is a name or an RxNorm coding")

    def resolve_rxcui(self, rxcui: str) -> Resolution | Unresolved:
        code = rxcui.strip()
        if not code.isdigit():
            return Unresolved(code, "an RxCUI is a number")
        product = self.kb.products.get(code)
        if product is not None:
            return self._from_products(code, [product], f"rxcui:{product.tty}", strengths=None, hints=())
        concept = self.kb.concepts.get(code)
        if concept is not None:
            known = [self.kb.by_rxcui[c] for c in concept.ingredient_rxcuis if c in self.kb.by_rxcui]
            if known:
                return Resolution(code, tuple(ResolvedIngredient(i.name, i.rxcui, None, True) for i in known),
                                  None, None, False, None, f"rxcui:{concept.tty}",
                                  complete=len(known) == len(concept.ingredient_rxcuis))
        return self._ask_remote(code, rxcui=code) or Unresolved(
            code, f"RxCUI {code} is not in the offline RxNorm subset of the drugs this service checks")

    def resolve_text(self, text: str) -> Resolution | Unresolved:
        raw = text.strip()
        if not raw:
            return Unresolved(text, "empty drug name")
        if raw.isdigit():
            return self.resolve_rxcui(raw)
        key = normalise(raw)
        exact = self._products_by_name.get(key)
        if exact is not None:
            return self._from_products(raw, [exact], "text:product", strengths=None, hints=())
        aliased = next((code for text, code in self._aliases if re.search(rf"(?<![\w#]){re.escape(text)}(?![\w.])",
                                                                          key)), None)
        if aliased is not None:
            return self._from_products(raw, [self.kb.products[aliased]], "text:alias", strengths=None, hints=())

        targets, unknown_words = self._scan(key)
        hints = tuple(self.kb.text_hints[w] for w in _WORD.findall(key) if w in self.kb.text_hints)
        if not targets:
            remote = self._ask_remote(raw, text=raw)
            if remote:
                return remote
            words = ", ".join(repr(w) for w in unknown_words[:3])
            return Unresolved(raw, f"no drug this service knows was found in {raw!r}"
                              + (f" (unrecognised: {words})" if words else ""))
        strengths = self._strengths(key)
        names = tuple(dict.fromkeys(name for t in targets for name in t.ingredients))
        brands = {t.brand for t in targets if t.brand}
        if len(brands) == 1:
            candidates = self._products_by_brand.get(next(iter(brands)), [])
            matched_by = "text:brand"
        else:
            candidates = self._products_by_set.get(frozenset(names), [])
            matched_by = f"text:{targets[0].kind}"
        picked = self._pick(candidates, strengths, hints, prefer_brand=bool(brands))
        if picked:
            return self._from_products(raw, picked, matched_by, strengths, hints)
        return self._without_product(raw, names, strengths, hints, matched_by)

    def _scan(self, key: str) -> tuple[list[_Target], list[str]]:
        """Drug names in the text, longest phrase first, tolerating one typing error per word."""
        words = _WORD.findall(key.replace("/", " "))
        targets: list[_Target] = []
        unknown: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self.MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                target = self._phrases.get(" ".join(words[i:i + size]))
                if target is not None:
                    targets.append(target)
                    i += size
                    break
            else:
                word = words[i]
                target = self._fuzzy_match(word)
                if target is not None:
                    targets.append(target)
                elif word not in self._stopwords and len(word) > 2:
                    unknown.append(word)
                i += 1
        return targets, unknown

    def _fuzzy_match(self, word: str) -> _Target | None:
        if len(word) < self.MIN_FUZZY_LENGTH or word in self._stopwords:
            return None
        candidates = set(self._fuzzy.get(word, ()))
        for variant in _deletes(word):
            candidates |= self._fuzzy.get(variant, set())
        close = {c for c in candidates if _within_one_edit(word, c)}
        targets = {self._phrases[c] for c in close}
        # Two different drugs one edit away is a coin toss: say unresolved rather than guess.
        return targets.pop() if len({t.ingredients for t in targets}) == 1 else None

    @staticmethod
    def _strengths(key: str) -> list[tuple[float, str | None]]:
        found: list[tuple[float, str | None]] = []
        for match in _STRENGTH.finditer(key):
            unit = match.group(2)
            if unit is None and _NOT_A_STRENGTH.match(key, match.end()):
                continue  # "2 tablets", "24 hr", "q 6 h": counts and times, not strengths
            unit = {"ug": "mcg", "mcg/hr": "mcg/h", "mg/hr": "mg/h"}.get(unit, unit)
            for number in match.group(1).split("/"):
                found.append((float(number), unit))
        return found

    @staticmethod
    def _matches_strengths(product: Product, strengths: list[tuple[float, str | None]]) -> bool:
        values = []
        for ingredient in product.ingredients:
            if ingredient.strength_value is None:
                return False
            values.append((ingredient.strength_value, ingredient.strength_unit))
        if len(values) != len(strengths):
            return False
        wanted = []
        for (value, unit), (_, have_unit) in zip(sorted(strengths), sorted(values)):
            if unit == "%":  # 5% is 0.05 mg/mg (a patch or gel) or 50 mg/mL (a solution)
                value, unit = (value / 100 if have_unit == "mg/mg" else value * 10 if have_unit == "mg/ml"
                               else value), have_unit
            wanted.append(_canonical(value, unit if unit is not None else have_unit))
        have = [_canonical(value, unit) for value, unit in values]
        return Counter(wanted) == Counter(have)

    def _pick(self, candidates: list[Product], strengths: list[tuple[float, str | None]],
              hints: tuple[str, ...], prefer_brand: bool) -> list[Product]:
        if not candidates or not strengths:
            return []
        matching = [p for p in candidates if self._matches_strengths(p, strengths)]
        for hint in hints:
            narrowed = [p for p in matching if p.dose_form and hint in p.dose_form.lower()]
            if narrowed:
                matching = narrowed
        if "extended release" not in hints:  # nobody types "oxycodone 10 mg" meaning OxyContin
            immediate = [p for p in matching if not self._is_extended(p)]
            matching = immediate or matching
        plain = [p for p in matching if p.dose_form in ("Oral Tablet", "Oral Capsule")]
        matching = plain or matching
        wanted_tty = ("SBD", "BPCK") if prefer_brand else ("SCD", "GPCK")
        preferred = [p for p in matching if p.tty in wanted_tty]
        return preferred or matching

    def _is_extended(self, product: Product) -> bool:
        form = self.kb.dose_form(product.dose_form)
        return bool(form and form.extended_release)

    def _route_from_words(self, hints: Iterable[str]) -> str | None:
        for hint in hints:
            form = self.kb.dose_form(hint)
            if form is not None:
                return form.route
            if hint in ("gel", "cream", "ointment", "lotion"):
                return "topical"
            if hint in ("tablet", "capsule", "solution", "suspension", "chewable", "extended release"):
                return "oral"
        return None

    def _from_products(self, raw: str, products: list[Product], matched_by: str,
                       strengths: list | None, hints: tuple[str, ...]) -> Resolution:
        """One product, or several that agree on ingredients and strengths (then no single product code)."""
        first = products[0]
        ingredients = tuple(
            ResolvedIngredient(
                i.name, i.rxcui,
                Strength(i.strength_value, _UNIT_SPELLING.get(i.strength_unit or "", i.strength_unit or ""))
                if i.strength_value is not None else None,
                i.rxcui in self.kb.by_rxcui)
            for i in first.ingredients)
        forms = {p.dose_form for p in products}
        dose_form = first.dose_form if len(forms) == 1 else None
        meanings = {self.kb.dose_form(p.dose_form) for p in products}
        routes = {m.route for m in meanings if m}
        return Resolution(
            input=raw, ingredients=ingredients, dose_form=dose_form,
            route=routes.pop() if len(routes) == 1 and None not in meanings else self._route_from_words(hints),
            extended_release=any(m.extended_release for m in meanings if m) or "extended release" in hints,
            product_rxcui=first.rxcui if len(products) == 1 else None,
            matched_by=matched_by, complete=all(p.complete for p in products))

    def _without_product(self, raw: str, names: tuple[str, ...], strengths: list[tuple[float, str | None]],
                         hints: tuple[str, ...], matched_by: str) -> Resolution:
        """Ingredients found but no product of the subset fits: a lone strength with its unit still counts."""
        lone = None
        if len(names) == 1 and len(strengths) == 1 and strengths[0][1] not in (None, "%"):
            lone = Strength(strengths[0][0], strengths[0][1])
        ingredients = tuple(ResolvedIngredient(n, self.kb.ingredients[n].rxcui, lone, True) for n in names)
        return Resolution(raw, ingredients, None, self._route_from_words(hints), "extended release" in hints,
                          None, matched_by)

    def _ask_remote(self, raw: str, rxcui: str | None = None, text: str | None = None) -> Resolution | None:
        if self.remote is None:
            return None
        code = rxcui or self.remote.rxcui_for_text(text or "")
        if code is None:
            return None
        found = self.remote.ingredients_for_rxcui(code)
        if not found:
            return None
        ingredients = tuple(ResolvedIngredient(name.lower(), ing_rxcui, None, ing_rxcui in self.kb.by_rxcui)
                            for ing_rxcui, name in found)
        ingredients = tuple(
            ResolvedIngredient(self.kb.by_rxcui[i.rxcui].name, i.rxcui, None, True) if i.known else i
            for i in ingredients)
        return Resolution(raw, ingredients, None, None, False, code if rxcui else None, "rxnav")

    # ----------------------------------------------------------------------------------------- autocomplete
    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Names, brands and synonyms that start with (or contain a word starting with) the query."""
        key = normalise(query)
        if len(key) < 2:
            return []
        hits: list[tuple[int, str, dict]] = []
        for phrase, target in self._phrases.items():
            if phrase.startswith(key):
                rank = 0
            elif f" {key}" in f" {phrase}":
                rank = 1
            else:
                continue
            kind_rank = {"ingredient": 0, "brand": 1, "synonym": 2, "salt": 3, "combination": 4}[target.kind]
            rxcui = self._target_rxcui(phrase, target)
            hits.append((rank * 10 + kind_rank, phrase, {"name": self._display(phrase, target), "rxcui": rxcui,
                                                         "kind": target.kind}))
        hits.sort(key=lambda hit: (hit[0], len(hit[1]), hit[1]))
        seen, results = set(), []
        for _, _, item in hits:
            if item["name"] not in seen:
                seen.add(item["name"])
                results.append(item)
            if len(results) == limit:
                break
        return results

    def _display(self, phrase: str, target: _Target) -> str:
        if target.kind == "brand":
            products = self._products_by_brand.get(phrase)
            return products[0].brand if products else next(
                b for name in target.ingredients for b in self.kb.ingredients[name].brands if normalise(b) == phrase)
        return phrase

    def _target_rxcui(self, phrase: str, target: _Target) -> str | None:
        if len(target.ingredients) == 1 and target.kind != "brand":
            return self.kb.ingredients[target.ingredients[0]].rxcui
        for concept in self.kb.concepts.values():
            if normalise(concept.name) == phrase:
                return concept.rxcui
        return None
