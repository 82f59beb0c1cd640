"""Alert load in the EHR (issue 14): by default at most one interruptive card per draft order plus one for the
regimen, information folded into one card, every card listing the findings it stands for; feedback on such a card
counts for each of its findings (rule statistics, override metrics); `cards: per_finding` answers one card per
finding as before. Through the CDS Hooks endpoints with signed JWTs, on SQLite and PostgreSQL."""
from __future__ import annotations

import shutil

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from adapters.reviews import ReviewStore
from adapters.storage import checks
from tests.integration.test_cds_hooks import (  # noqa: F401
    IBUPROFEN_600,
    SELECT,
    SIGN,
    WARFARIN,
    bundle,
    call,
    cds_app,
    ehr_key,
    hook_body,
    issuer_entry,
    medication_request,
    observation,
    poster,
    stands_for,
    trusting,
)
from web.cds_cards import load_cds_config

# RxNorm clinical drugs from the offline subset (drugdata/rxnorm/products.csv)
SERTRALINE_ACTIVE = medication_request("rx-sertraline", "312941", status="active", dose={"value": 1}, per_day=1,
                                       authored="2025-02-01")  # sertraline 50 MG Oral Tablet
TRAMADOL_50 = medication_request("draft-tramadol", "835603", dose={"value": 1, "unit": "{tablet}"}, every_hours=6)
CYCLOBENZAPRINE_10 = medication_request("draft-cyclobenzaprine", "828348", dose={"value": 1, "unit": "{tablet}"},
                                        per_day=3)
METHADONE_10 = medication_request("draft-methadone", "864706", dose={"value": 1, "unit": "{tablet}"}, per_day=3)
NALOXONE_SPRAY, POLYETHYLENE_GLYCOL = "1725059", "876193"  # config/cds_hooks.yaml orderables


def prefetch_78_on_warfarin_and_sertraline() -> dict:
    """The issue's patient: 78, on warfarin and sertraline, CrCl about 45 mL/min."""
    return {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "female", "birthDate": "1948-03-02"},
            "conditions": None, "medications": bundle(WARFARIN, SERTRALINE_ACTIVE),
            "creatinine": bundle(observation("2160-0", 1.0, "mg/dL")), "egfr": None,
            "weight": bundle(observation("29463-7", 61, "kg"))}


def prefetch_45_year_old() -> dict:
    return {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "male", "birthDate": "1981-05-01"},
            "conditions": None, "medications": None, "creatinine": bundle(observation("2160-0", 0.9, "mg/dL")),
            "egfr": None, "weight": bundle(observation("29463-7", 80, "kg"))}


def three_drafts() -> dict:
    return hook_body("order-sign", [IBUPROFEN_600, TRAMADOL_50, CYCLOBENZAPRINE_10],
                     prefetch_78_on_warfarin_and_sertraline())


def interruptive(cards: list[dict]) -> list[dict]:
    return [c for c in cards if c["indicator"] != "info"]


def stored_findings(application) -> list[dict]:
    with application.extensions["store"].engine.connect() as connection:
        return connection.execute(select(checks.c.response).order_by(checks.c.created_at.desc())).first()[0][
            "findings"]


@pytest.fixture
def per_finding_app(trusting, ehr_key, settings, tmp_path):
    """The same service with the site setting `cards: per_finding`."""
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    path = config / "cds_hooks.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("cards: per_draft", "cards: per_finding"),
                    encoding="utf-8")
    return trusting(issuer_entry(ehr_key), config_dir=config)


# ------------------------------------------------------------------------------------------ one card per order
def test_three_drafts_for_a_78_year_old_on_warfarin_and_sertraline_give_one_card_each_at_most(call, cds_app):
    response = call(SIGN, three_drafts())
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    assert len(interruptive(cards)) <= 3 + 1  # one per draft order and one for the regimen
    ibuprofen = cards[0]
    assert ibuprofen["indicator"] == "critical" and ibuprofen["source"]["topic"]["code"] == "bleeding"
    assert ibuprofen["summary"].startswith("Use acetaminophen or a topical NSAID instead of ibuprofen")
    assert len(ibuprofen["summary"]) < 140
    assert {f["code"] for f in stands_for(ibuprofen)} >= {"bleeding.anticoagulant_nsaid", "gi.nsaid_older_adult",
                                                          "gi.nsaid_ssri_snri"}
    # every finding of the check is on exactly one card, with its reason and its sources in that card's detail
    findings = stored_findings(cds_app)
    listed = [(f["code"], tuple(f.get("drugs", ()))) for c in cards for f in stands_for(c)]
    assert sorted(listed) == sorted((f["code"], tuple(f["drugs"])) for f in findings)
    for card in cards:
        for entry in stands_for(card):
            finding = next(f for f in findings if f["code"] == entry["code"])
            assert entry["summary"] in card["detail"]
            assert entry["category"] == finding["category"] and entry["severity"] == finding["severity"]
            for evidence in finding["evidence"]:
                assert f"[{evidence['citation']}]({evidence['url']})" in card["detail"]
        assert len(card["summary"]) < 140
        if card["indicator"] != "info":
            assert card["overrideReasons"]


def test_regimen_advice_is_one_card_and_a_methadone_order_gets_two_not_four(call):
    cards = call(SIGN, hook_body("order-sign", [METHADONE_10], prefetch_45_year_old())).get_json()["cards"]
    assert len(interruptive(cards)) == 2
    methadone, regimen = cards
    assert "methadone" in methadone["summary"].lower()
    assert {f["code"] for f in stands_for(regimen)} >= {"constipation.opioid_without_bowel_regimen",
                                                        "opioid.naloxone"}
    assert "naloxone" in regimen["summary"].lower()
    created = {a["resource"]["medicationCodeableConcept"]["coding"][0]["code"]
               for s in regimen["suggestions"] for a in s["actions"] if a["type"] == "create"}
    assert created == {NALOXONE_SPRAY, POLYETHYLENE_GLYCOL}
    offered_on_methadone = [a for s in methadone.get("suggestions", []) for a in s["actions"]]
    assert all(a["type"] != "create" for a in offered_on_methadone)  # naloxone is offered once, on the regimen card


def test_norco_with_acetaminophen_gets_two_interruptive_cards_not_four(call):
    norco = medication_request("draft-norco", "857001", dose={"value": 1, "unit": "{tablet}"}, every_hours=4)
    apap = medication_request("draft-apap", "198440", dose={"value": 1, "unit": "{tablet}"}, every_hours=6)
    cards = call(SIGN, hook_body("order-sign", [norco, apap], prefetch_45_year_old())).get_json()["cards"]
    assert len(interruptive(cards)) == 2
    duplicate = next(c for c in cards if any(f["code"] == "duplication.acetaminophen_products"
                                             for f in stands_for(c)))
    assert [a for s in duplicate["suggestions"] for a in s["actions"]] == [
        {"type": "delete", "description": "Remove the draft order draft-apap",
         "resourceId": "MedicationRequest/draft-apap"}]


def test_information_folds_into_one_card_that_never_interrupts(call):
    cards = call(SIGN, three_drafts()).get_json()["cards"]
    info = [c for c in cards if c["indicator"] == "info"]
    assert len(info) == 1 and len(stands_for(info[0])) >= 2
    assert all(f["severity"] == "info" for f in stands_for(info[0])) and "overrideReasons" not in info[0]


def test_no_suggestion_changes_one_order_in_two_ways(call):
    for body in (three_drafts(), hook_body("order-sign", [IBUPROFEN_600]),
                 hook_body("order-sign", [METHADONE_10], prefetch_45_year_old())):
        for card in call(SIGN, body).get_json()["cards"]:
            changed = []
            for suggestion in card.get("suggestions", []):
                touched = [a.get("resourceId") or a["resource"].get("id") for a in suggestion["actions"]
                           if a["type"] != "create"]
                assert len(touched) == len(set(touched)), suggestion  # never delete and update one order
                changed.extend(set(touched))
            if len(changed) != len(set(changed)):  # two suggestions for one order: alternatives
                assert card["selectionBehavior"] == "at-most-one"
                assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) == 1


# --------------------------------------------------------------------------------------- no repeats, per card
def test_a_card_shown_at_order_select_comes_back_at_order_sign_only_with_a_new_reason(call):
    call(SELECT, hook_body("order-select", [IBUPROFEN_600]))
    assert call(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"] == []
    sertraline = medication_request("draft-sertraline", "312941", dose={"value": 1, "unit": "{tablet}"}, per_day=1)
    cards = call(SIGN, hook_body("order-sign", [IBUPROFEN_600, sertraline])).get_json()["cards"]
    ibuprofen = next(c for c in cards if any(f["code"] == "gi.nsaid_ssri_snri" for f in stands_for(c)))
    categories = {f["category"] for f in stands_for(ibuprofen)}
    assert {"renal", "bleeding"} <= categories  # shown at order-select, but the card now has a new reason: all of it


# --------------------------------------------------------------------------------- feedback, for each finding
def test_feedback_on_a_grouped_card_counts_for_each_finding_it_stands_for(call, cds_app):
    cards = call(SIGN, three_drafts()).get_json()["cards"]
    ibuprofen = cards[0]
    regimen = next(c for c in cards if any(f["category"] == "constipation" for f in stands_for(c)))
    overridden = {f["code"] for f in stands_for(ibuprofen)}
    before = {code: REGISTRY.get_sample_value("stewardship_overrides_total", {"code": code}) or 0
              for code in overridden}
    reason = {"system": "urn:stewardship:override-reason", "code": "short-course-monitored",
              "display": "Short course with monitoring"}
    feedback = {"feedback": [
        {"card": ibuprofen["uuid"], "outcome": "overridden", "overrideReason": {"reason": reason},
         "outcomeTimestamp": "2026-12-05T10:00:00Z"},
        {"card": regimen["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-05T10:00:01Z",
         "acceptedSuggestions": [{"id": regimen["suggestions"][0]["uuid"]}]}]}
    assert call(f"{SIGN}/feedback", feedback).status_code == 200
    stats = {entry["code"]: entry for entry in ReviewStore(cds_app.extensions["store"].engine).rule_statistics()}
    for code in overridden:
        assert stats[code]["cardsShown"] == 1 and stats[code]["overridden"] == 1
        assert stats[code]["overrideReasons"] == {"Short course with monitoring": 1}
        assert REGISTRY.get_sample_value("stewardship_overrides_total", {"code": code}) == before[code] + 1
    for entry in stands_for(regimen):
        assert stats[entry["code"]]["accepted"] == 1 and stats[entry["code"]]["overridden"] == 0


# ------------------------------------------------------------------------------------------- the site setting
def test_per_finding_answers_one_card_per_finding(per_finding_app, ehr_key):
    post = poster(per_finding_app, ehr_key)
    cards = post(SIGN, three_drafts()).get_json()["cards"]
    findings = stored_findings(per_finding_app)
    assert len(cards) == len(findings) and len(interruptive(cards)) > 3 + 1
    for card in cards:
        (entry,) = stands_for(card)
        assert card["summary"] == entry["summary"] and card["indicator"] == entry["severity"]
        assert card["source"]["topic"]["code"] == entry["category"]


def test_an_unknown_card_setting_stops_start_up_naming_it(tmp_path, settings):
    path = tmp_path / "cds_hooks.yaml"
    path.write_text((settings.config_dir / "cds_hooks.yaml").read_text(encoding="utf-8")
                    .replace("cards: per_draft", "cards: per_order"), encoding="utf-8")
    with pytest.raises(ValueError, match="cards must be one of per_draft, per_finding, not 'per_order'"):
        load_cds_config(path)
