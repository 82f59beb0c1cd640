"""Terminology: names, brands, salts, combinations, codes of every term type, misspellings and unknowns."""
from __future__ import annotations

import pytest

from stewardship.terminology import RXNORM_SYSTEM, Strength


def ingredients(result) -> dict[str, Strength | None]:
    return {i.name: i.strength for i in result.ingredients}


@pytest.mark.parametrize("text, expected", [
    ("ibuprofen", {"ibuprofen": None}),
    ("Ibuprofen 600 mg", {"ibuprofen": Strength(600, "mg")}),
    ("gabapentin 300 mg", {"gabapentin": Strength(300, "mg")}),
    ("acetaminophen", {"acetaminophen": None}),
    ("APAP 500 mg", {"acetaminophen": Strength(500, "mg")}),
    ("paracetamol", {"acetaminophen": None}),
])
def test_generic_names_and_synonyms_resolve_to_their_ingredient(resolver, text, expected):
    assert ingredients(resolver.resolve_text(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("advil", {"ibuprofen"}),
    ("Motrin", {"ibuprofen"}),
    ("Tylenol", {"acetaminophen"}),
    ("Neurontin", {"gabapentin"}),
    ("Cymbalta", {"duloxetine"}),
    ("Eliquis", {"apixaban"}),
    ("Norco", {"hydrocodone", "acetaminophen"}),
    ("Percocet", {"oxycodone", "acetaminophen"}),
])
def test_brands_resolve_to_every_ingredient_they_contain(resolver, text, expected):
    result = resolver.resolve_text(text)
    assert result.resolved, result
    assert set(ingredients(result)) == expected


def test_norco_10_325_is_hydrocodone_10_mg_with_acetaminophen_325_mg(resolver):
    result = resolver.resolve_text("Norco 10/325")
    assert ingredients(result) == {"hydrocodone": Strength(10, "mg"), "acetaminophen": Strength(325, "mg")}
    assert result.dose_form == "Oral Tablet"
    assert result.route == "oral"


def test_a_generic_combination_written_out_resolves_with_strengths(resolver):
    result = resolver.resolve_text("hydrocodone/acetaminophen 5/325")
    assert ingredients(result) == {"hydrocodone": Strength(5, "mg"), "acetaminophen": Strength(325, "mg")}


@pytest.mark.parametrize("text", ["oxycodone HCl 5 mg tab", "oxycodone hydrochloride 5 mg tablet",
                                  "Oxycodone Hydrochloride 5 MG Oral Tablet"])
def test_salt_forms_name_the_same_ingredient(resolver, text):
    result = resolver.resolve_text(text)
    assert ingredients(result) == {"oxycodone": Strength(5, "mg")}
    assert result.route == "oral"


def test_an_exact_rxnorm_name_resolves_to_its_product(resolver):
    result = resolver.resolve_text("ibuprofen 600 MG Oral Tablet")
    assert result.product_rxcui == "197806"


@pytest.mark.parametrize("text, expected", [
    ("ibuprofin", "ibuprofen"),       # substitution
    ("gabapentine", "gabapentin"),    # insertion
    ("tramdol", "tramadol"),          # deletion
    ("duloxetnie", "duloxetine"),     # transposition
    ("tylenl", "acetaminophen"),      # a brand with a letter missing
])
def test_a_misspelling_within_one_edit_is_still_recognised(resolver, text, expected):
    assert set(ingredients(resolver.resolve_text(text))) == {expected}


def test_two_edits_away_is_not_guessed(resolver):
    assert not resolver.resolve_text("ibuprofn 2").resolved or \
        set(ingredients(resolver.resolve_text("ibuprofn"))) == {"ibuprofen"}
    assert not resolver.resolve_text("ibopurfen").resolved


@pytest.mark.parametrize("text", ["xyzzy", "unicorn tears 5 mg", "", "   ", "12345678901"])
def test_unknown_input_is_a_typed_unresolved_result_not_an_exception(resolver, text):
    result = resolver.resolve_text(text)
    assert not result.resolved
    assert result.reason


def test_the_topical_form_is_recognised_from_the_words(resolver):
    assert resolver.resolve_text("diclofenac 1% gel").route == "topical"
    assert resolver.resolve_text("lidocaine 5% patch").route == "topical"
    assert resolver.resolve_text("diclofenac 50 mg tablet").route == "oral"


def test_a_fentanyl_patch_is_transdermal_and_extended_release(resolver):
    result = resolver.resolve_text("fentanyl 25 mcg/hr patch")
    assert result.route == "transdermal" and result.extended_release
    assert ingredients(result) == {"fentanyl": Strength(0.025, "mg/h")}


def test_er_in_the_text_means_an_extended_release_product(resolver):
    assert resolver.resolve_text("oxycodone ER 10 mg").extended_release
    assert not resolver.resolve_text("oxycodone 10 mg").extended_release
    assert resolver.resolve_text("OxyContin 10").extended_release


# ------------------------------------------------------------------------------------------- codes, every TTY
@pytest.mark.parametrize("rxcui, tty, expected", [
    ("5640", "IN", {"ibuprofen": None}),
    ("82063", "PIN", {"oxycodone": None}),
    ("197806", "SCD", {"ibuprofen": Strength(600, "mg")}),
    ("857001", "SBD", {"hydrocodone": Strength(10, "mg"), "acetaminophen": Strength(325, "mg")}),
])
def test_rxnorm_codes_of_each_term_type_resolve(resolver, kb, rxcui, tty, expected):
    result = resolver.resolve_rxcui(rxcui)
    assert result.matched_by == f"rxcui:{tty}"
    assert ingredients(result) == expected


def test_a_multiple_ingredient_concept_resolves_to_all_its_ingredients(resolver, kb):
    result = resolver.resolve_rxcui("214627")  # MIN hydrocodone / ibuprofen
    assert result.matched_by == "rxcui:MIN"
    assert set(ingredients(result)) == {"hydrocodone", "ibuprofen"}


@pytest.mark.parametrize("tty", ["GPCK", "BPCK"])
def test_packs_resolve_to_their_ingredients(resolver, kb, tty):
    pack = next(p for p in kb.products.values() if p.tty == tty and p.complete)
    result = resolver.resolve_rxcui(pack.rxcui)
    assert result.matched_by == f"rxcui:{tty}"
    assert {i.rxcui for i in result.ingredients} == {i.rxcui for i in pack.ingredients}


def test_a_coding_resolves_like_its_code(resolver):
    coding = {"system": RXNORM_SYSTEM, "code": "197806"}
    assert ingredients(resolver.resolve(coding)) == {"ibuprofen": Strength(600, "mg")}


def test_another_code_system_is_unresolved(resolver):
    result = resolver.resolve({"system": "http://snomed.info/sct", "code": "387207008"})
    assert not result.resolved and "not RxNorm" in result.reason


def test_an_unknown_rxcui_is_unresolved_with_its_reason(resolver):
    result = resolver.resolve_rxcui("1361048")  # heparin 100 UNT/ML: real, but in no offline source
    assert not result.resolved and "1361048" in result.reason


def test_a_drug_outside_the_knowledge_base_is_identified_but_not_known(resolver):
    result = resolver.resolve_rxcui("316672")  # simvastatin 10 MG (SCDC): RxNorm knows it, the rules do not
    assert result.resolved and not result.assessed
    assert [(i.name, i.known) for i in result.ingredients] == [("simvastatin", False)]


def test_name_brand_and_code_give_the_same_ingredients(resolver):
    by_code = resolver.resolve_rxcui("857001")
    by_brand = resolver.resolve_text("Norco 10/325")
    by_name = resolver.resolve_text("hydrocodone bitartrate 10 mg / acetaminophen 325 mg")
    assert ingredients(by_code) == ingredients(by_brand) == ingredients(by_name)


def test_a_product_missing_a_co_ingredient_code_says_it_is_incomplete(resolver, kb):
    partial = next((p for p in kb.products.values() if not p.complete), None)
    if partial is None:
        pytest.skip("no incomplete product in this subset")
    assert not resolver.resolve_rxcui(partial.rxcui).complete


# ------------------------------------------------------------------------------------------------ autocomplete
def test_autocomplete_finds_ingredients_first_then_brands(resolver):
    results = resolver.search("ibu")
    assert results[0] == {"name": "ibuprofen", "rxcui": "5640", "kind": "ingredient"}
    assert len(results) <= 20


def test_autocomplete_finds_brands(resolver):
    names = [r["name"] for r in resolver.search("norc")]
    assert "Norco" in names


def test_autocomplete_ignores_a_one_letter_query(resolver):
    assert resolver.search("i") == []


@pytest.mark.parametrize("text, codeine_mg", [("Tylenol #3", 30), ("tylenol no. 4 1 tab q6h", 60)])
def test_tylenol_numbers_name_their_codeine_strength(resolver, text, codeine_mg):
    assert ingredients(resolver.resolve_text(text)) == {"acetaminophen": Strength(300, "mg"),
                                                        "codeine": Strength(codeine_mg, "mg")}


@pytest.mark.parametrize("text", ["Tylenol Extra Strength", "extra strength tylenol 2 tabs TID"])
def test_tylenol_extra_strength_is_500_mg_so_its_acetaminophen_counts(resolver, text):
    assert ingredients(resolver.resolve_text(text)) == {"acetaminophen": Strength(500, "mg")}


def test_a_combination_keeps_an_ingredient_added_to_the_knowledge_base_later(resolver):
    assert set(ingredients(resolver.resolve_text("Duexis"))) == {"ibuprofen", "famotidine"}
