"""RxNorm Current Prescribable Content offline: every prescribable drug by RxCUI of any term type, by NDC and by
the names EHRs send (coding displays, salts, brands), with the pain subset's facts kept where it has the code."""
from __future__ import annotations

import pytest

from stewardship.prescribable import NDC_SYSTEM, ndc11
from stewardship.terminology import RXNORM_SYSTEM, Strength
from tests.unit.clinical import RXNORM, line, patient

MG = "mg"


def ingredients(result) -> dict:
    return {i.name: (i.strength, i.known) for i in result.ingredients}


# ------------------------------------------------------------------------------------- the codes of issue 11
@pytest.mark.parametrize("rxcui, tty, name, known", [
    ("855350", "SCD", "warfarin", True),        # 0.5 MG tablet: an older code, from the HL7 PDDI-CDS value set
    ("855295", "SCDC", "warfarin", True),       # warfarin sodium 10 MG (component)
    ("104693", "SCD", "temazepam", True),       # in the knowledge base since issue 12
    ("1298088", "SCD", "flurazepam", True),     # a benzodiazepine by its FDA EPC (drugdata/epc_classes.yaml)
    ("854868", "SCD", "rabeprazole", True),
    ("197579", "SCD", "dexamethasone", False),
    ("198223", "SCD", "spironolactone", True),
])
def test_codes_ehrs_send_are_identified_offline(resolver, rxcui, tty, name, known):
    result = resolver.resolve({"system": RXNORM_SYSTEM, "code": rxcui})
    assert result.resolved, result
    assert result.matched_by == f"rxcui:{tty}" and result.identified_by == "rxcui"
    assert [(i.name, i.known) for i in result.ingredients] == [(name, known)]


def test_a_component_code_carries_its_strength(resolver):
    assert ingredients(resolver.resolve_rxcui("855295")) == {"warfarin": (Strength(10, "mg"), True)}


def test_kadian_by_its_display_is_extended_release_morphine(resolver):
    # 892495 (an SBDC, not a prescribable term type) is in no offline source: its display identifies it
    result = resolver.resolve({"system": RXNORM_SYSTEM, "code": "892495", "display": "Morphine Sulfate 10 MG [Kadian]"})
    assert ingredients(result) == {"morphine": (Strength(10, "mg"), True)}
    assert result.extended_release and result.identified_by == "text"
    assert result.tried == (("892495", result.tried[0][1]),) and "892495" in result.tried[0][1]


@pytest.mark.parametrize("rxcui, tty", [("11289", "IN"), ("114194", "PIN"), ("405155", "BN"), ("855300", "SBD")])
def test_every_term_type_of_warfarin_is_warfarin(resolver, rxcui, tty):
    result = resolver.resolve_rxcui(rxcui)
    assert result.matched_by == f"rxcui:{tty}" and set(ingredients(result)) == {"warfarin"}


def test_the_pain_subset_stays_authoritative_where_both_have_the_code(resolver, kb):
    assert "197806" in kb.products and "197806" in kb.prescribable.products
    result = resolver.resolve_rxcui("197806")
    assert ingredients(result) == {"ibuprofen": (Strength(600, "mg"), True)} and result.route == "oral"


def test_lidocaine_by_injection_is_identified_but_not_taken_for_topical_lidocaine(resolver, kb):
    injection = next(p for p in kb.prescribable.products.values() if p.dose_form == "Injectable Solution"
                     and [i.rxcui for i in p.ingredients] == ["6387"])
    result = resolver.resolve_rxcui(injection.rxcui)
    assert result.resolved and not result.assessed


# ------------------------------------------------------------------------------------------------------ NDC
@pytest.mark.parametrize("written, eleven", [
    ("00002015201", "00002015201"), ("00002-0152-01", "00002015201"),
    ("0574-4072-05", "00574407205"), ("51655-089-52", "51655008952"), ("58118-1397-3", "58118139703"),
])
def test_ndcs_are_normalised_to_11_digits_as_cms_writes_them(written, eleven):
    assert ndc11(written) == eleven


@pytest.mark.parametrize("written", ["0002015201", "2-152-1", "00002-0152-011", "ndc", "12345-6789-0a", "٠٠٠٠٢٠١٥٢٠١"])
def test_what_is_not_an_ndc_is_not_guessed(written):
    assert ndc11(written) is None


def test_an_ndc_identifies_its_product(resolver, kb):
    ndc, rxcui = "00002015201", kb.prescribable.rxcui_for_ndc("00002015201")
    for given in (ndc, "00002-0152-01", {"system": NDC_SYSTEM, "code": "00002-0152-01"}, f"ndc:{ndc}"):
        result = resolver.resolve(given)
        assert result.resolved and result.product_rxcui == rxcui and result.identified_by == "ndc"


def test_an_unknown_or_malformed_ndc_is_unresolved_with_its_reason(resolver):
    assert "not in the offline" in resolver.resolve({"system": NDC_SYSTEM, "code": "99999-9999-99"}).reason
    assert "hyphen" in resolver.resolve({"system": NDC_SYSTEM, "code": "0002015201"}).reason


# ----------------------------------------------------------------------------------------------------- text
@pytest.mark.parametrize("text, expected", [
    ("Warfarin Sodium 10 MG Oral Tablet", {"warfarin": (Strength(10, "mg"), True)}),
    ("spironolactone 25 mg", {"spironolactone": (Strength(25, "mg"), True)}),
    ("Rabeprazole Sodium 20 MG Delayed Release Oral Tablet", {"rabeprazole": (Strength(20, "mg"), True)}),
    ("temazepam", {"temazepam": (None, True)}),
    ("rxcui:855332", {"warfarin": (Strength(5, "mg"), True)}),
])
def test_displays_names_and_typed_codes_resolve(resolver, text, expected):
    assert ingredients(resolver.resolve(text)) == expected


def test_an_incidental_rxnorm_word_beside_a_known_drug_is_not_an_ingredient(resolver):
    assert set(ingredients(resolver.resolve("ibuprofen 400 mg with water"))) == {"ibuprofen"}


def test_a_combination_with_an_unchecked_co_ingredient_names_it(resolver):
    result = resolver.resolve("butalbital / acetaminophen / caffeine")
    assert {name: known for name, (_, known) in ingredients(result).items()} == \
        {"butalbital": True, "acetaminophen": True, "caffeine": False}


def test_candidates_are_tried_in_order_and_the_fallback_is_recorded(resolver):
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": "372756006", "display": "Warfarin"},
                          {"system": RXNORM_SYSTEM, "code": "99999999"}],
               "text": "warfarin sodium 5 mg tablet"}
    result = resolver.resolve(concept)
    assert ingredients(result) == {"warfarin": (Strength(5, "mg"), True)} and result.identified_by == "text"
    assert [given for given, _ in result.tried] == ["99999999", "http://snomed.info/sct|372756006"]


def test_nothing_resolving_says_every_reason(resolver):
    result = resolver.resolve_first([{"system": RXNORM_SYSTEM, "code": "99999999"}, "unicorn tears"])
    assert not result.resolved and "99999999" in result.reason and "unicorn" in result.reason


# ------------------------------------------------------------------------------------------- the check
def test_a_patient_on_warfarin_855350_ordering_ibuprofen_gets_the_critical_bleeding_finding(check):
    on_warfarin = patient(age=70, crcl=80, meds=(line({"system": RXNORM, "code": "855350"}, 1, "tablet", "daily"),))
    outcome = check(on_warfarin, line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("bleeding.anticoagulant_nsaid") == "critical"
    assert "unresolved.drug" not in outcome.codes()


def test_drugs_without_stewardship_facts_are_said_once_as_identified_not_assessed(check):
    meds = tuple(line({"system": RXNORM, "code": code}) for code in ("861007", "312961", "197579"))
    outcome = check(patient(age=50, crcl=90, meds=meds), line("acetaminophen", 500, MG, "q6h"))
    found = [f for f in outcome.findings if f.category == "unresolved"]
    assert [f.code for f in found] == ["unresolved.not_assessed"] and found[0].severity == "info"
    assert set(found[0].drugs) == {"metformin", "simvastatin", "dexamethasone"}
    assert not outcome.alerts()


def test_the_resolved_entry_says_how_each_line_was_identified(check):
    meds = (line({"system": RXNORM, "code": "861007"}), line("Warfarin Sodium 5 MG Oral Tablet"))
    outcome = check(patient(age=50, crcl=90, meds=meds), line("acetaminophen", 500, MG, "q6h"))
    by_line = {entry["line"]: entry for entry in outcome.result.resolved}
    assert by_line["patient.medications[0]"]["matchedBy"] == "rxcui"
    assert by_line["patient.medications[0]"]["ingredients"][0]["assessed"] is False
    assert by_line["patient.medications[1]"]["matchedBy"] == "text"
