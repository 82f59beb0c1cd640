"""RxNorm Current Prescribable Content, offline: every prescribable drug by RxCUI of any term type, by NDC, by name.

drugdata/rxnorm/prescribable/ holds the all-ingredient extract (provenance, gaps and the three kinds of rows in its
SOURCES.md); the 72-ingredient pain subset next to it stays authoritative where both have a code (its strengths,
dose forms and scope were checked by hand). Read once per process into compact structures: concepts as
`{rxcui: (tty, name)}`, products as the same `Product` values as the subset, and the 221,960 NDCs as two sorted
integer arrays searched by bisection (3.5 MB instead of about 30 MB as a dict of strings).
"""
from __future__ import annotations

import csv
import gc
import gzip
import re
from array import array
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .knowledge import Product, ProductIngredient

NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
PACKS = ("GPCK", "BPCK")
# The FDA's 10-digit NDC (labeler-product-package) comes in 4-4-2, 5-3-2 and 5-4-1; the 11-digit form that
# RxNorm, CMS and HIPAA transactions use pads each segment with leading zeros to 5-4-2 (e.g. 0574-4072-05 ->
# 00574407205, 51655-089-52 -> 51655008952, 58118-1397-3 -> 58118139703; Minnesota DHS "NDC Format Conversion",
# 2007, and the CMS 11-digit derivative). Without hyphens a 10-digit NDC is ambiguous, so it is not guessed.
_NDC_SEGMENTS = {(5, 4, 2), (4, 4, 2), (5, 3, 2), (5, 4, 1)}
_DIGITS = re.compile(r"[0-9]+")


def ndc11(text: str) -> str | None:
    """The 11-digit NDC for an NDC as written (11 digits, or hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1), else None."""
    value = text.strip()
    if "-" not in value:
        return value if len(value) == 11 and _DIGITS.fullmatch(value) else None
    parts = value.split("-")
    if len(parts) != 3 or not all(_DIGITS.fullmatch(p) for p in parts) or \
            tuple(len(p) for p in parts) not in _NDC_SEGMENTS:
        return None
    return parts[0].zfill(5) + parts[1].zfill(4) + parts[2].zfill(2)


@dataclass(frozen=True)
class Component:
    """A clinical drug component (SCDC): one ingredient at one strength, no dose form."""
    ingredient_rxcui: str
    strength_value: float | None
    strength_unit: str | None


class Prescribable:
    """The extract, indexed. Empty when the folder is absent (a knowledge base without it still loads)."""

    def __init__(self) -> None:
        self.concepts: dict[str, tuple[str, str]] = {}  # rxcui -> (tty, name), every TTY of the extract
        self.parts: dict[str, tuple[tuple[str, ...], bool]] = {}  # IN/PIN/MIN -> (IN rxcuis, every part known)
        self.products: dict[str, Product] = {}
        self.components: dict[str, Component] = {}  # SCDC rxcui -> its ingredient and strength
        self._ndc = array("q")
        self._ndc_rxcui = array("l")
        self.terminology_index: object | None = None  # the terminology's look-up tables, built once (terminology.py)

    def __len__(self) -> int:
        return len(self.concepts)

    def ingredient_name(self, rxcui: str) -> str | None:
        concept = self.concepts.get(rxcui)
        return concept[1] if concept else None

    def rxcui_for_ndc(self, ndc: str) -> str | None:
        """The product an 11-digit NDC is a package of."""
        key = int(ndc)
        index = bisect_left(self._ndc, key)
        return str(self._ndc_rxcui[index]) if index < len(self._ndc) and self._ndc[index] == key else None

    @property
    def ndc_count(self) -> int:
        return len(self._ndc)

    def ndcs(self) -> Iterator[tuple[str, str]]:
        """Every (11-digit NDC, product RxCUI), in NDC order."""
        return ((f"{ndc:011d}", str(rxcui)) for ndc, rxcui in zip(self._ndc, self._ndc_rxcui))


def _rows(path: Path) -> Iterator[list[str]]:
    """The data rows of a gzipped CSV file (header checked by the caller's column names)."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        yield next(reader)
        yield from reader


def load(directory: Path, scope_names: dict[str, str]) -> Prescribable:
    """Read the extract. `scope_names` maps the knowledge base's ingredient RxCUIs to its names, so that a product
    of the extract names its in-scope ingredients as the rules do (IN "sennosides, USP" is "senna")."""
    content = Prescribable()
    if not (directory / "concepts.csv.gz").exists():
        return content
    collecting = gc.isenabled()
    gc.disable()  # some 100,000 long-lived objects: collecting while they are made only costs time
    try:
        _load(content, directory, scope_names)
    finally:
        if collecting:
            gc.enable()
    return content


def _columns(rows: Iterator[list[str]], expected: tuple[str, ...]) -> Iterator[list[str]]:
    header = tuple(next(rows))
    if header != expected:
        raise ValueError(f"prescribable content: columns {header} where {expected} were expected")
    return rows


def _load(content: Prescribable, directory: Path, scope_names: dict[str, str]) -> None:
    shared: dict[str, str] = {}  # one string object per distinct value: codes and names repeat across the files
    one = shared.setdefault
    for rxcui, tty, name, _ in _columns(_rows(directory / "concepts.csv.gz"), ("rxcui", "tty", "name", "source")):
        content.concepts[one(rxcui, rxcui)] = (one(tty, tty), one(name, name))
    for rxcui, _, _, in_rxcui in _columns(_rows(directory / "ingredients.csv.gz"),
                                          ("rxcui", "name", "tty", "in_rxcui")):
        codes = in_rxcui.split(";")
        content.parts[one(rxcui, rxcui)] = (tuple(one(c, c) for c in codes if c != "?"), "?" not in codes)
    _load_products(content, directory / "products.csv.gz", scope_names, shared)
    ndcs, products = array("q"), array("l")
    with gzip.open(directory / "ndc.csv.gz", "rt", encoding="ascii") as handle:
        if next(handle).strip() != "ndc,rxcui":
            raise ValueError("prescribable content: ndc.csv.gz must have the columns ndc,rxcui")
        for line in handle:  # "ndc,rxcui": 11 digits, a comma, the RxCUI
            ndcs.append(int(line[:11]))
            products.append(int(line[12:]))
    if any(ndcs[i] > ndcs[i + 1] for i in range(len(ndcs) - 1)):  # sorted in the file; bisection needs it
        order = sorted(range(len(ndcs)), key=ndcs.__getitem__)
        ndcs, products = array("q", (ndcs[i] for i in order)), array("l", (products[i] for i in order))
    content._ndc, content._ndc_rxcui = ndcs, products


_PRODUCT_COLUMNS = ("rxcui", "name", "tty", "ingredient_rxcui", "ingredient_name", "ingredient_in_scope",
                    "strength_value", "strength_unit", "strength_basis", "dose_form", "scdc_rxcui", "via_scd_rxcui",
                    "brand_name", "n_ingredients_in_name", "tty_evidence", "evidence", "source")


def _load_products(content: Prescribable, path: Path, scope_names: dict[str, str], shared: dict[str, str]) -> None:
    one = shared.setdefault
    heads: dict[str, tuple[str, str, str, str, int, str]] = {}  # rxcui -> (name, tty, form, brand, named, source)
    found: dict[str, dict[str, tuple]] = defaultdict(dict)  # rxcui -> ingredient rxcui -> its row's facts
    scoped_somewhere: set[str] = set()
    for (rxcui, name, tty, code, ingredient, in_scope, value, unit, basis, form, scdc, _, brand, named, _, _,
         source) in _columns(_rows(path), _PRODUCT_COLUMNS):
        if rxcui not in heads:
            heads[one(rxcui, rxcui)] = (one(name, name), one(tty, tty), one(form, form), one(brand, brand),
                                        int(named or 0), one(source, source))
        strength = float(value) if value else None
        unit = one(unit.lower(), unit.lower())
        if code not in found[rxcui]:  # a pack repeats an ingredient per contained drug: keep the first strength
            found[rxcui][one(code, code)] = (one(ingredient.lower(), ingredient.lower()), bool(in_scope), strength,
                                             unit, one(basis, basis))
        if in_scope:
            scoped_somewhere.add(code)
        if scdc and scdc not in content.components:
            content.components[one(scdc, scdc)] = Component(one(code, code), strength, unit or None)
    for rxcui, (name, tty, form, brand, named, source) in heads.items():
        ingredients = []
        for code, (ingredient, in_scope, strength, unit, basis) in found[rxcui].items():
            # In scope where the extract says so, or for an ingredient the knowledge base added later (famotidine);
            # not where the extract's topical rule left it out (lidocaine by injection is not topical lidocaine).
            scoped = in_scope or (code in scope_names and code not in scoped_somewhere)
            ingredients.append(ProductIngredient(rxcui=code, name=scope_names[code] if scoped and code in scope_names
                                                 else ingredient, in_scope=scoped, strength_value=strength,
                                                 strength_unit=unit or None, strength_basis=basis or None))
        content.products[rxcui] = Product(rxcui=rxcui, name=name, tty=tty, dose_form=form or None,
                                          brand=brand or None, ingredients=tuple(ingredients),
                                          complete=named <= len(ingredients) or tty in PACKS, source=source)
