"""Which card a finding goes on, and what a card that stands for several findings says and offers (issue 14):
one card per draft order, one for the regimen, one for information; suggestions that would change one order in two
ways are alternatives, never one suggestion; a summary stays under 140 characters and is cut only at a word."""
from __future__ import annotations

from pathlib import Path

from stewardship.model import Evidence, Finding
from web.cds_cards import (
    CATEGORY_LABELS,
    DraftOrder,
    build_cards,
    card_fingerprint,
    group_findings,
    home,
    load_cds_config,
)

CONFIG = load_cds_config(Path(__file__).resolve().parents[2] / "config" / "cds_hooks.yaml")
DRAFTS = ["regimen[0]", "regimen[1]"]
SOURCE = Evidence("AGS Beers Criteria 2023, Table 2", "https://doi.org/10.1111/jgs.18372")


def finding(code: str, severity: str = "warning", lines: tuple[str, ...] = ("regimen[0]",),
            suggestions: tuple[dict, ...] = (), summary: str | None = None, category: str | None = None) -> Finding:
    return Finding(code=code, category=category or code.split(".")[0], severity=severity, drugs=("ibuprofen",),
                   summary=summary or f"{code} summary", detail=f"{code} detail", evidence=(SOURCE, SOURCE),
                   suggestions=suggestions, lines=lines)


def draft(ref: str, order_id: str, tablets: float = 2) -> DraftOrder:
    resource = {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "order",
                "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "{tablet}"}}],
                                       "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}]}
    return DraftOrder(ref, order_id, resource, None)


RESULT = {"resolved": [{"line": "regimen[0]", "ingredients": [{"name": "ibuprofen"}]},
                       {"line": "regimen[1]", "ingredients": [{"name": "hydrocodone"}, {"name": "acetaminophen"}]}],
          "derived": {"acetaminophenRemainingMgPerDay": 4000,
                      "lines": [{"line": "regimen[0]", "ingredients": [
                          {"name": "ibuprofen", "dailyAmount": {"value": 2400, "unit": "mg"}}]}]}}
ORDERS = {"regimen[0]": draft("regimen[0]", "draft-ibu"), "regimen[1]": draft("regimen[1]", "draft-norco")}
STOP = {"label": "Stop ibuprofen", "action": "stop", "drug": "ibuprofen", "line": "regimen[0]"}
REDUCE = {"label": "Reduce ibuprofen to at most 1,200 mg/day", "action": "reduce_dose", "drug": "ibuprofen",
          "line": "regimen[0]", "maxDailyDose": {"value": 1200, "unit": "mg"}}
NALOXONE = {"label": "Offer naloxone", "action": "offer_naloxone", "drug": "naloxone"}
LAXATIVE = {"label": "Add a laxative", "action": "add_drug", "drug": "polyethylene glycol 3350"}


def cards(*findings: Finding, policy: str = "per_draft") -> list[dict]:
    return build_cards(group_findings(findings, DRAFTS, policy), CONFIG, ORDERS, "pt-1", RESULT, "https://x/checks/1")


# -------------------------------------------------------------------------------------------- which card
def test_a_finding_goes_on_the_card_of_the_draft_its_suggestion_changes():
    nsaid_on_warfarin = finding("bleeding.anticoagulant_nsaid", lines=("patient.medications[0]", "regimen[0]"),
                                suggestions=(STOP,))
    assert home(nsaid_on_warfarin, DRAFTS) == "regimen[0]"
    duplicate = finding("duplication.acetaminophen_products", lines=("regimen[0]", "regimen[1]"),
                        suggestions=({**STOP, "line": "regimen[1]"},))
    assert home(duplicate, DRAFTS) == "regimen[1]"


def test_advice_that_adds_an_order_or_spans_several_drafts_is_about_the_regimen():
    assert home(finding("constipation.opioid_without_bowel_regimen", suggestions=(LAXATIVE,)), DRAFTS) == "regimen"
    assert home(finding("opioid.naloxone", suggestions=(NALOXONE,)), DRAFTS) == "regimen"
    stacked = finding("sedation.cns_active_3plus", lines=("regimen[0]", "regimen[1]", "patient.medications[0]"),
                      suggestions=({"label": "Reduce the number of CNS-active drugs", "action": "review"},))
    assert home(stacked, DRAFTS) == "regimen"
    assert home(finding("renal.nsaid.caution", "info"), DRAFTS) == "info"
    assert home(finding("dose.max_daily"), DRAFTS) == "regimen[0]"  # no suggestion: the one draft it is about


def test_cards_come_per_draft_then_regimen_then_information_with_the_most_severe_finding_leading():
    found = cards(finding("renal.nsaid.caution", "info"), finding("constipation.x", suggestions=(LAXATIVE,)),
                  finding("gi.nsaid_older_adult"), finding("bleeding.anticoagulant_nsaid", "critical"))
    assert [c["indicator"] for c in found] == ["critical", "warning", "info"]
    ibuprofen = found[0]
    assert ibuprofen["source"]["topic"]["code"] == "bleeding"
    assert ibuprofen["source"]["topic"]["display"] == CATEGORY_LABELS["bleeding"]
    assert [f["code"] for f in ibuprofen["extension"]["stewardship.findings"]] == [
        "bleeding.anticoagulant_nsaid", "gi.nsaid_older_adult"]
    assert "overrideReasons" in ibuprofen and "overrideReasons" not in found[2]


def test_per_finding_gives_each_finding_its_own_card():
    found = cards(finding("gi.nsaid_older_adult"), finding("bleeding.anticoagulant_nsaid", "critical"),
                  policy="per_finding")
    assert [len(c["extension"]["stewardship.findings"]) for c in found] == [1, 1]
    assert [c["summary"] for c in found] == ["gi.nsaid_older_adult summary", "bleeding.anticoagulant_nsaid summary"]


# ------------------------------------------------------------------------------------------ what it says
def test_the_detail_gives_every_reason_with_its_sources_once():
    detail = cards(finding("gi.nsaid_older_adult"), finding("bleeding.anticoagulant_nsaid", "critical"))[0]["detail"]
    for code in ("gi.nsaid_older_adult", "bleeding.anticoagulant_nsaid"):
        assert f"{code} summary" in detail and f"{code} detail" in detail
    link = f"[{SOURCE.citation}]({SOURCE.url})"
    assert detail.count(link) == 2  # once per reason, though each finding cites it twice
    assert "(draft order draft-ibu)" in detail


def test_the_summary_names_the_drug_and_its_most_important_action_under_140_characters():
    found = cards(finding("renal.nsaid.avoid", "critical", suggestions=(REDUCE,)),
                  finding("gi.nsaid_older_adult", suggestions=(STOP,)))
    assert found[0]["summary"].startswith("Reduce ibuprofen to at most 1,200 mg/day — 2 reasons:")
    long_label = {**STOP, "label": "Stop " + "a very long reason to stop " * 8 + "now"}
    summary = cards(finding("gi.x", suggestions=(long_label,)))[0]["summary"]
    assert len(summary) < 140 and summary.startswith("Ibuprofen: Stop a very long") and summary.endswith("long…")
    assert cards(finding("dose.max_daily", summary="Above the daily maximum"))[0]["summary"] == \
        "Ibuprofen: Above the daily maximum"


def test_information_folds_into_one_card():
    found = cards(finding("renal.nsaid.caution", "info", summary="Use ibuprofen with caution: CrCl 44.6 mL/min"),
                  finding("geriatric.beers.tramadol", "info", summary="Use with caution: tramadol at age 78"))
    assert len(found) == 1 and found[0]["indicator"] == "info"
    assert found[0]["summary"] == ("2 notes: Use ibuprofen with caution: CrCl 44.6 mL/min; "
                                   "Use with caution: tramadol at age 78")


# ----------------------------------------------------------------------------------------- what it offers
def test_stop_and_reduce_for_one_order_are_alternatives_never_one_suggestion():
    found = cards(finding("renal.nsaid.avoid", "critical", suggestions=(REDUCE,)),
                  finding("duplication.nsaid", suggestions=(STOP,)))
    suggestions = found[0]["suggestions"]
    assert [[a["type"] for a in s["actions"]] for s in suggestions] == [["update"], ["delete"]]
    assert found[0]["selectionBehavior"] == "at-most-one"
    assert [s.get("isRecommended", False) for s in suggestions] == [True, False]
    update = suggestions[0]["actions"][0]["resource"]
    assert update["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1  # 2 tablets -> 1


def test_the_same_change_proposed_by_two_findings_is_offered_once_and_an_added_order_only_on_the_regimen_card():
    found = cards(finding("opioid.mme_90", suggestions=({**REDUCE, "line": None}, NALOXONE)),
                  finding("opioid.naloxone", suggestions=({**NALOXONE, "label": "Prescribe naloxone"},)),
                  finding("constipation.x", suggestions=(LAXATIVE,)))
    ibuprofen, regimen = found
    assert "suggestions" not in ibuprofen  # its naloxone is the regimen card's
    assert [s["label"] for s in regimen["suggestions"]] == ["Prescribe naloxone", "Add a laxative"]
    assert regimen["selectionBehavior"] == "any"
    assert regimen["summary"].startswith("Prescribe naloxone — 2 regimen-wide reasons")


def test_a_card_is_the_set_of_its_findings():
    assert card_fingerprint(["b", "a"]) == card_fingerprint(["a", "b"]) != card_fingerprint(["a"])
