"""The knowledge base: every file validates, every fact has a registered source, and a bad file fails loudly."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from stewardship import knowledge
from stewardship.knowledge import DEFAULT_DRUGDATA, KnowledgeBaseError

PAIN_CARE = {
    "nsaid": ["ibuprofen", "naproxen", "diclofenac", "meloxicam", "celecoxib", "ketorolac", "indomethacin",
              "aspirin"],
    "acetaminophen": ["acetaminophen"],
    "opioid": ["morphine", "oxycodone", "hydrocodone", "hydromorphone", "tramadol", "tapentadol", "methadone",
               "buprenorphine", "fentanyl", "meperidine", "codeine"],
    "gabapentinoid": ["gabapentin", "pregabalin"],
    "snri": ["duloxetine", "venlafaxine", "milnacipran"],
    "tca": ["amitriptyline", "nortriptyline"],
    "skeletal_muscle_relaxant": ["cyclobenzaprine", "methocarbamol", "tizanidine", "baclofen", "carisoprodol"],
    "benzodiazepine": ["diazepam", "lorazepam", "clonazepam", "alprazolam"],
    "z_drug": ["zolpidem"],
    "sedating_antihistamine": ["diphenhydramine", "hydroxyzine"],
    "anticoagulant": ["warfarin", "apixaban", "rivaroxaban", "dabigatran", "edoxaban", "enoxaparin", "heparin"],
    "antiplatelet": ["aspirin", "clopidogrel", "prasugrel", "ticagrelor"],
    "ssri": ["sertraline", "citalopram", "escitalopram", "fluoxetine", "paroxetine"],
    "corticosteroid": ["prednisone", "methylprednisolone"],
    "ppi": ["omeprazole", "pantoprazole"],
    "h2_blocker": ["famotidine"],
    "ace_inhibitor": ["lisinopril"],
    "arb": ["losartan"],
    "diuretic": ["hydrochlorothiazide", "furosemide"],
    "bowel_regimen": ["docusate", "senna", "polyethylene glycol 3350"],
    "opioid_antagonist": ["naloxone"],
}


def test_the_knowledge_base_has_at_least_70_ingredients(kb):
    assert len(kb.ingredients) >= 70


@pytest.mark.parametrize("klass, names", PAIN_CARE.items())
def test_every_pain_care_drug_and_co_medication_is_in_its_class(kb, klass, names):
    for name in names:
        assert name in kb.ingredients, f"{name} is missing"
        assert klass in kb.ingredients[name].classes, f"{name} is not a {klass}"


def test_topical_products_are_not_their_oral_twins(kb):
    assert kb.ingredients["diclofenac"].topical_classes == ("topical_nsaid",)
    assert not kb.classes["topical_nsaid"].systemic
    for name in ("lidocaine", "capsaicin"):
        assert all(not kb.classes[c].systemic for c in kb.ingredients[name].classes)


def test_every_ingredient_code_is_an_rxnorm_ingredient(kb):
    for ingredient in kb.ingredients.values():
        concept = kb.concepts[ingredient.rxcui]
        assert concept.tty == "IN", ingredient.name


def _citations(ingredient: knowledge.Ingredient):
    yield from (e.source for e in ingredient.effects.values())
    for group in (ingredient.max_daily_doses, ingredient.renal, ingredient.hepatic, ingredient.mme_factors,
                  ingredient.beers):
        yield from (fact.source for fact in group)
    for single in (ingredient.effective_dose, ingredient.taper):
        if single:
            yield single.source
    if ingredient.topical_source:
        yield ingredient.topical_source


def test_every_fact_names_a_registered_source_with_a_locator(kb):
    for ingredient in kb.ingredients.values():
        for citation in _citations(ingredient):
            assert citation.source_id in kb.sources, (ingredient.name, citation)
            assert citation.locator.strip(), (ingredient.name, citation)
            assert citation.url.startswith("http"), (ingredient.name, citation)


def test_every_ingredient_says_who_checked_it_and_when_it_is_reviewed_next(kb):
    for ingredient in kb.ingredients.values():
        assert ingredient.reviewed.checked_by
        assert ingredient.reviewed.next_review > ingredient.reviewed.checked_on
        assert ingredient.reviewed.next_review - ingredient.reviewed.checked_on <= dt.timedelta(days=731)


def test_full_agonist_opioids_carry_their_cdc_2022_mme_factor(kb):
    expected = {"codeine": 0.15, "hydrocodone": 1.0, "hydromorphone": 5.0, "methadone": 4.7, "morphine": 1.0,
                "oxycodone": 1.5, "oxymorphone": 3.0, "tapentadol": 0.4, "tramadol": 0.2}
    for name, factor in expected.items():
        oral = [m for m in kb.ingredients[name].mme_factors if m.route == "oral"]
        assert [m.value for m in oral] == [factor], name
        assert oral[0].source.source_id == "cdc-2022"
    patch = [m for m in kb.ingredients["fentanyl"].mme_factors if m.route == "transdermal"]
    assert [(m.value, m.dose_unit) for m in patch] == [(2.4, "mcg/h")]


def test_buprenorphine_has_no_mme_factor_as_cdc_2022_says(kb):
    assert kb.ingredients["buprenorphine"].mme_factors == ()


def test_nsaids_are_avoided_below_crcl_30_per_beers_2023(kb):
    for name in ("ibuprofen", "naproxen", "diclofenac", "meloxicam", "celecoxib", "ketorolac"):
        bands = [b for b in kb.ingredients[name].renal if b.action == "avoid" and b.covers(29, False)]
        assert bands, name
        assert not any(b.action == "avoid" and b.covers(31, False) for b in kb.ingredients[name].renal), name


def test_renal_band_edges_are_read_as_the_source_writes_them():
    source = knowledge.Citation("x", "y", "t", "http://x", "e")
    below_30 = knowledge.RenalBand(None, None, 30, None, False, None, "any", "avoid", None, None, source)
    at_most_30 = knowledge.RenalBand(15, None, None, 30, False, None, "any", "reduce", None, None, source)
    above_95 = knowledge.RenalBand(None, 95, None, None, False, None, "any", "avoid", None, None, source)
    assert below_30.covers(29.9, False) and not below_30.covers(30, False)
    assert at_most_30.covers(30, False) and not at_most_30.covers(30.1, False) and not at_most_30.covers(14, False)
    assert above_95.covers(95.1, False) and not above_95.covers(95, False)
    assert not below_30.covers(None, False)
    assert below_30.label == "CrCl < 30 mL/min"


def test_the_acb_score_is_the_anticholinergic_grade(kb):
    assert kb.ingredients["amitriptyline"].effect("anticholinergic") == 3
    assert kb.ingredients["diphenhydramine"].effect("anticholinergic") == 3
    assert kb.ingredients["paroxetine"].effect("anticholinergic") == 3
    assert kb.ingredients["ibuprofen"].effect("anticholinergic") == 0


def test_methadone_and_citalopram_carry_known_qt_risk(kb):
    assert kb.ingredients["methadone"].effect("qt") == 3
    assert kb.ingredients["citalopram"].effect("qt") == 3


def test_products_include_combinations_with_every_ingredient(kb):
    norco = kb.products["857001"]  # acetaminophen 325 MG / hydrocodone bitartrate 10 MG Oral Tablet [Norco]
    assert {i.name for i in norco.ingredients} == {"acetaminophen", "hydrocodone"}
    assert {i.strength_value for i in norco.ingredients} == {325.0, 10.0}


def test_the_version_changes_when_the_data_changes(tmp_path):
    copy = _copy(tmp_path)
    before = knowledge.load(copy).version
    path = copy / "sources.yaml"
    path.write_text(path.read_text() + "\n# a reviewed change\n")
    assert knowledge.load(copy).version != before


# ---------------------------------------------------------------------------- a bad file fails, loudly and exactly
def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "drugdata"
    shutil.copytree(DEFAULT_DRUGDATA, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _entry(data: dict, name: str) -> dict:
    return next(e for e in data["ingredients"] if e["name"] == name)


@pytest.mark.parametrize("change, words", [
    (lambda d: _entry(d, "ibuprofen")["max_daily_dose"][0].update(value="lots"),
     ["'ibuprofen'", "max_daily_dose.0.value", "Not a valid number"]),
    (lambda d: _entry(d, "ibuprofen")["renal"][0].update(action="shun"),
     ["'ibuprofen'", "renal.0.action", "Must be one of"]),
    (lambda d: _entry(d, "ibuprofen")["renal"][0].pop("source"),
     ["'ibuprofen'", "renal.0.source", "required"]),
    (lambda d: _entry(d, "ibuprofen")["renal"][0].update(source="no-such-guideline: Table 9"),
     ["'ibuprofen'", "renal[0].source", "no-such-guideline"]),
    (lambda d: _entry(d, "ibuprofen").update(classes=["nsaid", "wonder_drug"]),
     ["'ibuprofen'", "classes", "wonder_drug"]),
    (lambda d: _entry(d, "ibuprofen").update(rxcui="999999999"),
     ["'ibuprofen'", "rxcui", "999999999"]),
])
def test_a_bad_knowledge_file_names_the_file_the_entry_and_the_field(tmp_path, change, words):
    copy = _copy(tmp_path)
    target = copy / "ingredients" / "analgesics_nonopioid.yaml"
    _edit(target, change)
    with pytest.raises(KnowledgeBaseError) as caught:
        knowledge.load(copy)
    message = str(caught.value)
    assert "analgesics_nonopioid.yaml" in message
    for word in words:
        assert word in message, message


def test_a_duplicate_ingredient_is_refused(tmp_path):
    copy = _copy(tmp_path)
    _edit(copy / "ingredients" / "opioids.yaml",
          lambda d: d["ingredients"].append(dict(_entry(d, "morphine"))))
    with pytest.raises(KnowledgeBaseError, match="'morphine'.*already defined"):
        knowledge.load(copy)


def test_broken_yaml_is_reported_with_its_file(tmp_path):
    copy = _copy(tmp_path)
    (copy / "classes.yaml").write_text("classes: [unclosed\n")
    with pytest.raises(KnowledgeBaseError, match="classes.yaml: not valid YAML"):
        knowledge.load(copy)


def test_the_validator_command_reports_valid_drugdata(capsys):
    assert knowledge.main([str(DEFAULT_DRUGDATA)]) == 0
    assert "valid" in capsys.readouterr().out


def test_docs_knowledge_base_page_matches_the_data(kb):
    from stewardship.knowledge_docs import render

    page = (DEFAULT_DRUGDATA.parent / "docs" / "knowledge-base.md").read_text()
    assert page == render(kb), "docs/knowledge-base.md is stale: run `make docs`"


def test_docs_findings_page_matches_the_rules(kb):
    from stewardship.findings_docs import render
    from stewardship.rulebook import load_rulebook

    page = (DEFAULT_DRUGDATA.parent / "docs" / "findings.md").read_text()
    assert page == render(kb, load_rulebook(kb)), "docs/findings.md is stale: run `make docs`"
