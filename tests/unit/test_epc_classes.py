"""Class membership from the FDA Established Pharmacologic Class (drugdata/epc_classes.yaml): a drug the hand lists
lack is still assessed as its class, and the hand lists agree with the FDA's classes."""
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from stewardship import knowledge
from stewardship.knowledge import DEFAULT_DRUGDATA, epc_members
from tests.unit.clinical import RXNORM, Outcome, line, patient, request

MG = "mg"
FLURBIPROFEN_EYE_DROPS = "1243585"  # flurbiprofen sodium 0.3 MG/ML Ophthalmic Solution (RxNorm SCD)


def _without_hand_entries(tmp_path: Path, *names: str) -> Path:
    """A copy of drugdata/ whose ingredient files no longer define `names`: as if they were new drugs."""
    copy = tmp_path / "drugdata"
    shutil.copytree(DEFAULT_DRUGDATA, copy)
    for path in (copy / "ingredients").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        kept = [entry for entry in data["ingredients"] if entry["name"] not in names]
        if len(kept) != len(data["ingredients"]):
            data["ingredients"] = kept
            path.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


@pytest.fixture(scope="module")
def unlisted(tmp_path_factory):
    """A knowledge base and a check in which trandolapril and estazolam are in no hand list."""
    from stewardship.engine import Engine
    from stewardship.rulebook import load_rulebook
    from stewardship.terminology import Resolver

    kb = knowledge.load(_without_hand_entries(tmp_path_factory.mktemp("epc"), "trandolapril", "estazolam"))
    engine = Engine(kb, Resolver(kb), load_rulebook(kb))
    return kb, lambda who, *regimen: Outcome(engine.check(request(who, *regimen)))


# ------------------------------------------------------------------------------------- the next drug of a class
def test_an_ace_inhibitor_in_no_hand_list_is_an_ace_inhibitor_by_its_fda_class(unlisted):
    kb, _ = unlisted
    trandolapril = kb.ingredients["trandolapril"]
    assert trandolapril.rxcui == "38454" and trandolapril.classes == ("ace_inhibitor",)
    assert trandolapril.file == "epc_classes.yaml: class from FDA EPC Angiotensin Converting Enzyme Inhibitor [EPC]"
    assert not trandolapril.max_daily_doses and not trandolapril.renal  # no fact without its own source


def test_trandolapril_not_in_the_hand_lists_with_ibuprofen_and_hydrochlorothiazide_is_the_triple_whammy(unlisted):
    _, check = unlisted
    outcome = check(patient(age=50, crcl=90, meds=(line("trandolapril", 2, MG, "daily"),
                                                   line("hydrochlorothiazide", 25, MG, "daily"))),
                    line("ibuprofen", 400, MG, "TID"))
    assert outcome.severity("renal.nsaid_ras") == "warning"
    assert "trandolapril" in outcome.finding("renal.nsaid_ras").summary
    assert "unresolved.not_assessed" not in outcome.codes()


def test_a_benzodiazepine_the_hand_list_lacks_estazolam_with_oxycodone_is_the_opioid_benzodiazepine_critical(unlisted):
    kb, check = unlisted
    assert kb.ingredients["estazolam"].file == "epc_classes.yaml: class from FDA EPC Benzodiazepine [EPC]"
    outcome = check(patient(age=45, crcl=100), line("oxycodone", 5, MG, "q6h"), line("estazolam", 1, MG, "qHS"))
    assert outcome.severity("sedation.opioid_benzodiazepine") == "critical"


def test_a_benzodiazepine_given_by_its_rxnorm_code_is_assessed_as_one(check):
    quazepam = line({"system": RXNORM, "code": "198183"}, 1, "tablet", "qHS")  # quazepam 15 MG Oral Tablet
    outcome = check(patient(age=45, crcl=100), line("oxycodone", 5, MG, "q6h"), quazepam)
    assert outcome.severity("sedation.opioid_benzodiazepine") == "critical"


def test_a_thiazide_like_diuretic_completes_the_triple_whammy(check):
    outcome = check(patient(age=50, crcl=90, meds=(line("lisinopril", 20, MG, "daily"),
                                                   line("indapamide", 2.5, MG, "daily"))),
                    line("naproxen", 500, MG, "BID"))
    assert outcome.severity("renal.nsaid_ras") == "warning"


# ------------------------------------------------------------------------------------------ clean regimens
def test_flurbiprofen_eye_drops_with_warfarin_are_not_a_systemic_nsaid(check):
    on_warfarin = patient(age=70, crcl=80, meds=(line("warfarin", 5, MG, "daily"),))
    drops = check(on_warfarin, line({"system": RXNORM, "code": FLURBIPROFEN_EYE_DROPS}, 1, "tablet", "QID"))
    assert "bleeding.anticoagulant_nsaid" not in drops.codes()
    tablets = check(on_warfarin, line("flurbiprofen", 100, MG, "BID"))
    assert tablets.severity("bleeding.anticoagulant_nsaid") == "critical"


def test_loperamide_is_no_opioid_for_the_opioid_rules(check):
    outcome = check(patient(age=45, crcl=100), line("loperamide", 2, MG, "BID"), line("lorazepam", 1, MG, "BID"))
    assert "sedation.opioid_benzodiazepine" not in outcome.codes()


def test_trazodone_is_no_ssri_with_an_nsaid(check):
    outcome = check(patient(age=45, crcl=100), line("trazodone", 50, MG, "qHS"), line("ibuprofen", 400, MG, "TID"))
    assert "gi.nsaid_ssri_snri" not in outcome.codes()


# ------------------------------------------------------------------------------------ the hand lists agree
def test_every_hand_written_ingredient_is_in_the_classes_its_fda_epc_maps_to(kb):
    disagreements = []
    for member in epc_members():
        ingredient = kb.by_rxcui[member.rxcui]
        missing = [key for key in member.classes if key not in ingredient.classes + ingredient.topical_classes]
        if missing and not ingredient.file.startswith("epc_classes.yaml"):
            disagreements.append(f"{ingredient.name} ({ingredient.file}): {', '.join(member.epcs)} -> {missing}")
    assert not disagreements, "hand-written classes disagree with the FDA EPC:\n" + "\n".join(disagreements)


def test_every_epc_member_is_an_ingredient_of_the_knowledge_base(kb):
    members = epc_members()
    assert {m.rxcui for m in members} <= set(kb.by_rxcui)
    assert len([m for m in members if kb.by_rxcui[m.rxcui].file.startswith("epc_classes.yaml")]) >= 40


def test_the_substance_names_match_the_ingredients_rxnorm_links_through_the_ndc(kb):
    """Where a listing's NDCs are in the RxNorm content, RxNorm's own NDC -> product -> ingredient link names the
    ingredient that the name rule (IN, salt, or IN + salt words) chose."""
    from stewardship.knowledge.loader import _read_epc, _rxnorm_in_by_name, _substance_in

    raw = _read_epc(DEFAULT_DRUGDATA / "epc_classes.yaml")
    by_name, _ = _rxnorm_in_by_name(DEFAULT_DRUGDATA / "rxnorm" / "prescribable" / "ingredients.csv.gz")
    content = kb.prescribable
    products_by_prefix = defaultdict(set)  # labeler + product segments of the 11-digit NDC -> product RxCUIs
    for ndc, rxcui in content.ndcs():
        products_by_prefix[ndc[:9]].add(rxcui)
    table = (DEFAULT_DRUGDATA / raw["table"]).read_text().splitlines()
    header, *rows = [row.split("\t") for row in table if not row.startswith("#")]
    confirmed, contradicted = 0, []
    for row in map(lambda values: dict(zip(header, values)), rows):
        chosen = _substance_in(row["SUBSTANCENAME"], by_name, frozenset(raw["salt_words"]))
        labeler, product = row["PRODUCTNDC"].split("-")
        linked = {i.rxcui for p in products_by_prefix.get(labeler.zfill(5) + product.zfill(4), ())
                  for i in content.products[p].ingredients} if chosen else set()
        if linked:
            confirmed += chosen in linked
            if chosen not in linked:
                contradicted.append((row["SUBSTANCENAME"], row["PRODUCTNDC"], chosen))
    assert not contradicted and confirmed >= 150
