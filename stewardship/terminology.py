"""Terminology: what a drug line is.

Free text ("Norco 10/325", "oxycodone HCl 5 mg tab", "advil", "ibuprofin", "Warfarin Sodium 10 MG Oral Tablet"), an
RxNorm coding of any term type (IN, PIN, MIN, BN, SCDC, SCD, SBD, GPCK, BPCK) or an NDC becomes its ingredients,
with the strength per unit where the input fixes one. Input that cannot be identified becomes an `Unresolved` value
that says why: never an exception, never a silent guess. Everything is offline: the pain subset
(drugdata/rxnorm/*.csv, authoritative where it has a code) and RxNorm's Current Prescribable Content
(drugdata/rxnorm/prescribable/, every prescribable drug). A drug identified there that the knowledge base has no
facts for resolves with `known=False` ingredients, so the rules can say it was not assessed. An optional
`RemoteTerminology` (RxNav) is asked only for what neither knows.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Protocol

from .knowledge import KnowledgeBase, Product
from .prescribable import NDC_SYSTEM, Prescribable, ndc11

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
    # the substance RxNorm states the strength for, often a salt ("naproxen sodium"); not part of the amount itself
    basis: str | None = field(default=None, compare=False)

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
    matched_by: str  # how: "rxcui:SCD", "ndc:SBD", "text:brand", "text:ingredient", "rxnav" ...
    complete: bool = True  # False where RxNorm lists a co-ingredient the subset has no code for
    tried: tuple[tuple[str, str], ...] = ()  # (input, why not) of the candidates tried before this one

    @property
    def resolved(self) -> bool:
        return True

    @property
    def identified_by(self) -> str:
        """What identified the drug: "rxcui", "ndc", "text" or "rxnav" (the first part of `matched_by`)."""
        return self.matched_by.partition(":")[0]

    @property
    def unknown_ingredients(self) -> tuple[ResolvedIngredient, ...]:
        return tuple([i for i in self.ingredients if not i.known])

    @property
    def assessed(self) -> bool:
        """At least one ingredient is one the knowledge base has facts for, so the rules check something."""
        for ingredient in self.ingredients:  # (a loop, not any() over a generator: asked for every line, twice)
            if ingredient.known:
                return True
        return False


@dataclass(frozen=True)
class Unresolved:
    input: str
    reason: str
    ingredients: tuple = ()
    tried: tuple[tuple[str, str], ...] = ()

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
    ingredients: tuple[str, ...]  # ingredient RxCUIs (IN)
    brand: str | None
    kind: str  # ingredient | salt | synonym | brand | combination
    assessed: bool  # from the knowledge base's own names (so also matched with a typing error), not RxNorm's alone


_HCL = re.compile(r"\bhcl\b")
_WITH = re.compile(r"\bw/\s*")
_SPACED = str.maketrans({"®": " ", "™": " ", "\u00b5": "u", "[": " ", "]": " ", "(": " ", ")": " ", ",": " ",
                         ";": " ", ":": " ", "+": " ", "&": " "})


def normalise(text: str) -> str:
    """Lower case, "HCl" spelled out, "w/" as "/", brackets and punctuation as spaces, one space between words.
    (Run on every RxNorm product name at start-up, so the patterns run only where their text occurs.)"""
    text = text.lower()
    if "hcl" in text:
        text = _HCL.sub("hydrochloride", text)
    if "w/" in text:
        text = _WITH.sub("/ ", text)
    return " ".join(text.translate(_SPACED).split())


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


class _Index:
    """Look-up tables over the knowledge base, its pain subset and the prescribable content. The same for every
    resolver of one knowledge base, so built once per process (`_index_for`)."""

    MIN_FUZZY_LENGTH = 4

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.content: Prescribable = kb.prescribable
        self.phrases: dict[str, _Target] = {}
        self.concept_by_phrase: dict[str, str] = {}  # an RxNorm ingredient-level name -> its RxCUI
        self.products_by_name: dict[str, Product] = {}
        self.products_by_brand: dict[str, list[Product]] = defaultdict(list)
        self.products_by_set: dict[frozenset[str], list[Product]] = defaultdict(list)
        # longest first, so that "tylenol with codeine #3" wins over a shorter alias inside it
        self.aliases = sorted(((normalise(t), code) for t, code in kb.aliases.items()), key=lambda a: -len(a[0]))
        self.stopwords = set(kb.text_hints) | {"oral", "release", "delayed", "hydrochloride", "sodium",
                                               "potassium", "tablet", "capsule", "and", "with", "plus", "prn",
                                               "daily", "bid", "tid", "qid", "once", "twice", "mg", "mcg"}
        for form in kb.dose_forms:
            self.stopwords.update(form.pattern.split())
        self._build()

    def product(self, rxcui: str) -> Product | None:
        """The pain subset's product where it has the code (its facts were checked by hand), else the content's."""
        return self.kb.products.get(rxcui) or self.content.products.get(rxcui)

    def name(self, rxcui: str) -> str:
        known = self.kb.by_rxcui.get(rxcui)
        return known.name if known else (self.content.ingredient_name(rxcui) or rxcui)

    def _add(self, phrase: str, codes: tuple[str, ...], brand: str | None, kind: str, assessed: bool,
             concept: str | None = None) -> None:
        key = normalise(phrase)
        if key and key not in self.phrases and (assessed or key not in self.stopwords):
            self.phrases[key] = _Target(codes, brand, kind, assessed)
            if concept:
                self.concept_by_phrase[key] = concept

    def _build(self) -> None:
        kb, content = self.kb, self.content
        # The knowledge base's own names first: they win over RxNorm's, and only they are matched with a typo.
        for ingredient in kb.ingredients.values():
            self._add(ingredient.name, (ingredient.rxcui,), None, "ingredient", True)
        for ingredient in kb.ingredients.values():
            for synonym in ingredient.synonyms:
                self._add(synonym, (ingredient.rxcui,), None, "synonym", True)
            for salt in ingredient.salts:
                self._add(salt, (ingredient.rxcui,), None, "salt", True)
        for concept in kb.concepts.values():  # RxNorm IN/PIN/MIN names of the subset, e.g. "oxycodone hydrochloride"
            codes = tuple(c for c in concept.ingredient_rxcuis if c in kb.by_rxcui)
            if codes and len(codes) == len(concept.ingredient_rxcuis):
                self._add(concept.name, codes, None, "combination" if len(codes) > 1 else "salt", True, concept.rxcui)

        for product in kb.products.values():
            self._index_product(product)
        for brand_key, products in list(self.products_by_brand.items()):
            self._add_brand(brand_key, products, True)
        for ingredient in kb.ingredients.values():  # brands the labels name that the subset has no product for
            for brand in ingredient.brands:
                self._add(brand, (ingredient.rxcui,), normalise(brand), "brand", True)
        self.fuzzy: dict[str, set[str]] = defaultdict(set)
        for key in self.phrases:
            if " " not in key and len(key) >= self.MIN_FUZZY_LENGTH:
                self.fuzzy[key].add(key)
                for variant in _deletes(key):
                    self.fuzzy[variant].add(key)

        # Then every prescribable drug, matched exactly: ingredient, salt and combination names, brands, products.
        subset_brands = set(self.products_by_brand)
        for rxcui, product in content.products.items():
            if rxcui not in kb.products:
                self._index_product(product)
        for brand_key, products in self.products_by_brand.items():
            if brand_key not in subset_brands:
                self._add_brand(brand_key, products, False)
        kinds = {"IN": "ingredient", "PIN": "salt", "MIN": "combination"}
        for rxcui, (tty, name) in content.concepts.items():
            if tty in kinds:
                codes, whole = content.parts.get(rxcui, ((), False))
                if codes and whole:
                    self._add(name, codes, None, kinds[tty], False, rxcui)

    def _index_product(self, product: Product) -> None:
        self.products_by_name.setdefault(normalise(product.name), product)
        if product.complete:  # a product missing a co-ingredient must not pass for a single-ingredient one
            self.products_by_set[frozenset(i.rxcui for i in product.ingredients)].append(product)
        if product.brand:
            self.products_by_brand[normalise(product.brand)].append(product)

    def _add_brand(self, brand_key: str, products: list[Product], assessed: bool) -> None:
        """A brand stands for the ingredients every product of it has (Excedrin: acetaminophen, aspirin and
        caffeine, so that caffeine is said to be unchecked), or, where those differ, the in-scope ones they share."""
        for scoped in (False, True):
            sets = [tuple(i.rxcui for i in p.ingredients if i.in_scope or not scoped) for p in products]
            common = set(sets[0]).intersection(*map(set, sets[1:]))
            codes = tuple(code for code in sets[0] if code in common)
            if codes:
                self._add(brand_key, codes, brand_key, "brand", assessed)
                return


def _index_for(kb: KnowledgeBase) -> _Index:
    """One index per knowledge base (it is read-only): every app and resolver of the process shares it."""
    index = getattr(kb.prescribable, "terminology_index", None)
    if index is None or index.kb is not kb:
        index = _Index(kb)
        kb.prescribable.terminology_index = index
    return index


_CODE_IN_TEXT = re.compile(r"(rxcui|rxnorm|ndc)\s*[:#=]?\s*([0-9][0-9-]*)", re.IGNORECASE)
_NDC_IN_TEXT = re.compile(r"[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class Resolver:
    """Resolves drug inputs against one knowledge base. Build once; `resolve*` are pure look-ups.

    Entry points: `resolve(drug)` for one input as any caller has it (see there), `resolve_first(candidates)` for
    several candidates of one drug in order of trust (an EHR's codings, then its display, then its text).
    """

    MAX_PHRASE_WORDS = 4
    MIN_FUZZY_LENGTH = _Index.MIN_FUZZY_LENGTH
    # Answers kept per resolver: a clinic's drugs are a few hundred inputs, and an EHR's hook call names each of the
    # patient's drugs twice (its records merged by ingredient, then the check's lines). A few MB at most.
    MEMO_SIZE = 1024

    def __init__(self, kb: KnowledgeBase, remote: RemoteTerminology | None = None) -> None:
        self.kb = kb
        self.remote = remote
        self._index = _index_for(kb)
        self.content = self._index.content
        # Offline, an answer depends on the input and the knowledge base alone (values that never change), so it
        # is kept; with a remote terminology it may change with the remote's answers and is looked up each time.
        self._text = lru_cache(self.MEMO_SIZE)(self.resolve_text) if remote is None else self.resolve_text
        self._coding = lru_cache(self.MEMO_SIZE)(self._resolve_coding) if remote is None else self._resolve_coding

    # -------------------------------------------------------------------------------------------- resolving
    def resolve(self, drug: object) -> Resolution | Unresolved:
        """A drug as an API body, a form or an EHR gives it:

        - text: a name, brand or RxNorm name with strength ("Norco 10/325", "Warfarin Sodium 10 MG Oral Tablet",
          "oxycodone HCl 5 mg tab"), or a code typed as text: "rxcui:855332", a bare RxCUI, an NDC of 11 digits or
          hyphenated 5-4-2 / 4-4-2 / 5-3-2 / 5-4-1 ("ndc:" in front is allowed);
        - a coding `{"system": RXNORM_SYSTEM | NDC_SYSTEM, "code", "display"?}`: the code; where the code is not
          known, its display as text;
        - a CodeableConcept `{"coding": [...], "text"?}`: its RxNorm codings, then its NDC codings, then their
          displays, then its text, then the displays of codings in other systems (whose codes are noted in
          `tried`, never guessed from).

        The first candidate that resolves is the answer; `tried` on it lists, in order, those that did not and why,
        and `matched_by` / `identified_by` say what identified it. Never raises for bad input.
        """
        return self.resolve_first(self.candidates(drug))

    @staticmethod
    def candidates(drug: object) -> list[object]:
        """What `resolve` tries for a drug, in order: codes before the words that describe them."""
        if isinstance(drug, dict) and "coding" in drug:
            codings = [c for c in drug.get("coding") or () if isinstance(c, dict)]
            rank = {RXNORM_SYSTEM: 0, NDC_SYSTEM: 1}
            ordered = sorted(codings, key=lambda c: rank.get(c.get("system"), 2))
            found: list[object] = [{"system": c.get("system"), "code": c.get("code")} for c in ordered
                                   if c.get("code") is not None]
            displays = [(rank.get(c.get("system"), 2), c["display"]) for c in ordered
                        if isinstance(c.get("display"), str) and c["display"].strip()]
            text = drug.get("text")
            found += [display for level, display in displays if level < 2]
            found += [text] if isinstance(text, str) and text.strip() else []
            found += [display for level, display in displays if level == 2]  # another system's words come last
            return found
        if isinstance(drug, dict) and isinstance(drug.get("display"), str) and drug["display"].strip():
            return [{"system": drug.get("system"), "code": drug.get("code")}, drug["display"]]
        return [drug]

    def resolve_first(self, candidates: Iterable[object]) -> Resolution | Unresolved:
        """The first candidate that resolves, with the ones tried before it (input, reason) in `tried`; if none
        does, an `Unresolved` whose reason gives each candidate's."""
        tried: list[tuple[str, str]] = []
        for candidate in candidates:
            result = self._resolve_one(candidate)
            if result.resolved:
                return replace(result, tried=tuple(tried)) if tried else result
            tried.append((result.input, result.reason))
        if not tried:
            return Unresolved("", "no drug was given (no code, display or text)")
        if len(tried) == 1:
            return Unresolved(*tried[0])
        return Unresolved(tried[0][0], "; ".join(f"{given!r}: {reason}" for given, reason in tried),
                          tried=tuple(tried))

    def _resolve_one(self, drug: object) -> Resolution | Unresolved:
        if isinstance(drug, str):
            return self._text(drug)
        if isinstance(drug, dict):
            system, code = drug.get("system"), drug.get("code")
            code = str(code) if code is not None else ""
            # the memo keys on the system: one that is not text (a caller's own object) is answered unmemoised
            resolve = self._coding if system is None or isinstance(system, str) else self._resolve_coding
            return resolve(system, code)
        return Unresolved(repr(drug), "a drug is a name, an RxNorm or NDC coding, or a CodeableConcept")

    def _resolve_coding(self, system: object, code: str) -> Resolution | Unresolved:
        if system == NDC_SYSTEM:
            return self.resolve_ndc(code)
        if system not in (None, RXNORM_SYSTEM):
            return Unresolved(f"{system}|{code}", f"code system {system!r} is not RxNorm or NDC")
        return self.resolve_rxcui(code)

    def resolve_rxcui(self, rxcui: str) -> Resolution | Unresolved:
        code = rxcui.strip()
        if not _ASCII_DIGITS.fullmatch(code):
            return Unresolved(code, "an RxCUI is a number")
        product = self._index.product(code)
        if product is not None:
            return self._from_products(code, [product], f"rxcui:{product.tty}", strengths=None, hints=())
        concept = self.kb.concepts.get(code)
        if concept is not None:
            known = [c for c in concept.ingredient_rxcuis if c in self.kb.by_rxcui]
            if known:
                return Resolution(code, tuple(self._ingredient(c) for c in known), None, None, False, None,
                                  f"rxcui:{concept.tty}", complete=len(known) == len(concept.ingredient_rxcuis))
        offline = self._from_content(code)
        if offline is not None:
            return offline
        return self._ask_remote(code, rxcui=code) or Unresolved(
            code, f"RxCUI {code} is not in the offline RxNorm content (current prescribable drugs and older codes)")

    def _from_content(self, code: str) -> Resolution | Unresolved | None:
        """An ingredient, component or brand concept of the prescribable content (products are looked up first)."""
        found = self.content.concepts.get(code)
        if found is None:
            return None
        tty, name = found
        if tty in ("IN", "PIN", "MIN"):
            parts, whole = self.content.parts.get(code, ((code,), True) if tty == "IN" else ((), False))
            if parts:
                return Resolution(code, tuple(self._ingredient(c) for c in parts), None, None, False, None,
                                  f"rxcui:{tty}", complete=whole)
        elif tty == "SCDC" and code in self.content.components:
            part = self.content.components[code]
            strength = Strength(part.strength_value, _UNIT_SPELLING.get(part.strength_unit or "",
                                                                        part.strength_unit or "")) \
                if part.strength_value is not None else None
            return Resolution(code, (self._ingredient(part.ingredient_rxcui, strength),), None, None, False, None,
                              "rxcui:SCDC")
        elif tty == "BN":
            target = self._index.phrases.get(normalise(name))
            if target is not None and target.kind == "brand":
                return Resolution(code, tuple(self._ingredient(c) for c in target.ingredients), None, None, False,
                                  None, "rxcui:BN")
        # a product code whose ingredients have no RxCUI in the content: what its RxNorm name says, if anything
        by_name = self.resolve_text(name)
        if by_name.resolved:
            return replace(by_name, input=code, matched_by=f"rxcui:{tty}:name")
        return Unresolved(code, f"RxCUI {code} ({name}, {tty}) is in RxNorm, but the offline content has no "
                                "ingredient code for it")

    def resolve_ndc(self, ndc: str) -> Resolution | Unresolved:
        """An NDC package code: 11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1 (normalised to 11 digits)."""
        given = ndc.strip()
        normal = ndc11(given)
        if normal is None:
            return Unresolved(given, "an NDC is 11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1 (a 10-digit "
                                     "NDC without hyphens is ambiguous)")
        rxcui = self.content.rxcui_for_ndc(normal)
        if rxcui is None:
            return Unresolved(given, f"NDC {normal} is not in the offline RxNorm prescribable content")
        result = self.resolve_rxcui(rxcui)
        if not result.resolved:
            return Unresolved(given, f"NDC {normal} is RxCUI {rxcui}: {result.reason}")
        return replace(result, input=given, matched_by="ndc:" + result.matched_by.partition(":")[2])

    def resolve_text(self, text: str) -> Resolution | Unresolved:
        raw = text.strip()
        if not raw:
            return Unresolved(text, "empty drug name")
        code = _CODE_IN_TEXT.fullmatch(raw)
        if code is not None:
            return self.resolve_rxcui(code[2]) if code[1].lower() != "ndc" else self.resolve_ndc(code[2])
        if _NDC_IN_TEXT.fullmatch(raw) or (_ASCII_DIGITS.fullmatch(raw) and len(raw) >= 10):
            return self.resolve_ndc(raw)
        if _ASCII_DIGITS.fullmatch(raw):
            return self.resolve_rxcui(raw)
        key = normalise(raw)
        index = self._index
        exact = index.products_by_name.get(key)
        if exact is not None:
            return self._from_products(raw, [exact], "text:product", strengths=None, hints=())
        aliased = next((code for text, code in index.aliases if re.search(rf"(?<![\w#]){re.escape(text)}(?![\w.])",
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
            return Unresolved(raw, f"no drug was found in {raw!r}" + (f" (unrecognised: {words})" if words else ""))
        strengths = self._strengths(key)
        codes = tuple(dict.fromkeys(code for t in targets for code in t.ingredients))
        brands = {t.brand for t in targets if t.brand}
        if len(brands) == 1:
            candidates = index.products_by_brand.get(next(iter(brands)), [])
            matched_by = "text:brand"
        else:
            candidates = index.products_by_set.get(frozenset(codes), [])
            matched_by = f"text:{targets[0].kind}"
        picked = self._pick(candidates, strengths, hints, prefer_brand=bool(brands))
        if picked:
            return self._from_products(raw, picked, matched_by, strengths, hints)
        return self._without_product(raw, codes, strengths, hints, matched_by)

    def _scan(self, key: str) -> tuple[list[_Target], list[str]]:
        """Drug names in the text, longest phrase first, tolerating one typing error per word in the knowledge
        base's names. An RxNorm-only name beside a drug the knowledge base knows counts only where some product
        has exactly those ingredients: "acetaminophen / caffeine" is a combination, "ibuprofen with water" is not."""
        words = _WORD.findall(key.replace("/", " "))
        phrases = self._index.phrases
        targets: list[_Target] = []
        unknown: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self.MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                target = phrases.get(" ".join(words[i:i + size]))
                if target is not None:
                    targets.append(target)
                    i += size
                    break
            else:
                word = words[i]
                target = self._fuzzy_match(word)
                if target is not None:
                    targets.append(target)
                elif word not in self._index.stopwords and len(word) > 2:
                    unknown.append(word)
                i += 1
        if any(t.assessed for t in targets) and not all(t.assessed for t in targets):
            together = frozenset(code for t in targets for code in t.ingredients)
            if together not in self._index.products_by_set:
                targets = [t for t in targets if t.assessed]
        return targets, unknown

    def _fuzzy_match(self, word: str) -> _Target | None:
        if len(word) < self.MIN_FUZZY_LENGTH or word in self._index.stopwords:
            return None
        fuzzy = self._index.fuzzy
        candidates = set(fuzzy.get(word, ()))
        for variant in _deletes(word):
            candidates |= fuzzy.get(variant, set())
        close = {c for c in candidates if _within_one_edit(word, c)}
        targets = {self._index.phrases[c] for c in close}
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

    def _ingredient(self, rxcui: str, strength: Strength | None = None) -> ResolvedIngredient:
        return ResolvedIngredient(self._index.name(rxcui), rxcui, strength, rxcui in self.kb.by_rxcui)

    def _from_products(self, raw: str, products: list[Product], matched_by: str,
                       strengths: list | None, hints: tuple[str, ...]) -> Resolution:
        """One product, or several that agree on ingredients and strengths (then no single product code)."""
        first = products[0]
        ingredients = tuple(
            ResolvedIngredient(
                i.name, i.rxcui,
                Strength(i.strength_value, _UNIT_SPELLING.get(i.strength_unit or "", i.strength_unit or ""),
                         i.strength_basis)
                if i.strength_value is not None else None,
                i.in_scope and i.rxcui in self.kb.by_rxcui)
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

    def _without_product(self, raw: str, codes: tuple[str, ...], strengths: list[tuple[float, str | None]],
                         hints: tuple[str, ...], matched_by: str) -> Resolution:
        """Ingredients found but no product fits: a lone strength with its unit still counts."""
        lone = None
        if len(codes) == 1 and len(strengths) == 1 and strengths[0][1] not in (None, "%"):
            lone = Strength(strengths[0][0], strengths[0][1])
        return Resolution(raw, tuple(self._ingredient(c, lone) for c in codes), None, self._route_from_words(hints),
                          "extended release" in hints, None, matched_by)

    def _ask_remote(self, raw: str, rxcui: str | None = None, text: str | None = None) -> Resolution | None:
        if self.remote is None:
            return None
        code = rxcui or self.remote.rxcui_for_text(text or "")
        if code is None:
            return None
        found = self.remote.ingredients_for_rxcui(code)
        if not found:
            return None
        ingredients = tuple(
            self._ingredient(ing_rxcui) if ing_rxcui in self.kb.by_rxcui
            else ResolvedIngredient(name.lower(), ing_rxcui, None, False)
            for ing_rxcui, name in found)
        return Resolution(raw, ingredients, None, None, False, code if rxcui else None, "rxnav")

    # ----------------------------------------------------------------------------------------- autocomplete
    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Names, brands and synonyms that start with (or contain a word starting with) the query."""
        key = normalise(query)
        if len(key) < 2:
            return []
        hits: list[tuple[int, str, dict]] = []
        kind_ranks = {"ingredient": 0, "brand": 1, "synonym": 2, "salt": 3, "combination": 4}
        for phrase, target in self._index.phrases.items():
            if phrase.startswith(key):
                rank = 0
            elif f" {key}" in f" {phrase}":
                rank = 1
            else:
                continue
            hits.append((rank * 10 + kind_ranks[target.kind], phrase,
                         {"name": self._display(phrase, target), "rxcui": self._target_rxcui(phrase, target),
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
            products = self._index.products_by_brand.get(phrase)
            return products[0].brand if products else next(
                (b for code in target.ingredients if code in self.kb.by_rxcui
                 for b in self.kb.by_rxcui[code].brands if normalise(b) == phrase), phrase)
        return phrase

    def _target_rxcui(self, phrase: str, target: _Target) -> str | None:
        if len(target.ingredients) == 1 and target.kind != "brand":
            return target.ingredients[0]
        return self._index.concept_by_phrase.get(phrase)
