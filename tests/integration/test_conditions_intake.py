"""Conditions as EHRs send them, through CDS Hooks and the native API, on SQLite and PostgreSQL: general SNOMED CT
concepts, display text when the code is unknown, and clinicalStatus / verificationStatus honoured."""
from __future__ import annotations

import pytest

from tests.integration.test_cds_hooks import (  # noqa: F401 - fixtures (cds_app, call, ehr_key, trusting) used here
    SIGN,
    bundle,
    call,
    cds_app,
    ehr_key,
    hook_body,
    medication_request,
    observation,
    trusting,
)

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
IBUPROFEN_400 = medication_request("draft-ibu", "5640", dose={"value": 400, "unit": "mg"}, per_day=3)


def condition(cid: str, coding: dict | None = None, *, text: str | None = None, clinical: str | None = "active",
              verification: str | None = None) -> dict:
    resource: dict = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/pt-78"},
                      "code": {**({"coding": [coding]} if coding else {}), **({"text": text} if text else {})}}
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return resource


def prefetch_50_year_old(*conditions: dict) -> dict:
    """A 50-year-old with normal kidneys, on nothing: only the conditions can raise a card for an NSAID."""
    return {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "male", "birthDate": "1976-05-01"},
            "conditions": bundle(*conditions) if conditions else None, "medications": None,
            "creatinine": bundle(observation("2160-0", 0.9, "mg/dL")), "egfr": None,
            "weight": bundle(observation("29463-7", 80, "kg"))}


def cards(call, *conditions: dict) -> list[dict]:
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_400], prefetch_50_year_old(*conditions)))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["cards"]


def topics(found: list[dict]) -> dict[str, str]:
    return {c["source"]["topic"]["code"]: c["indicator"] for c in found}


PEPTIC_ULCER = {"system": SNOMED, "code": "13200003", "display": "Peptic ulcer"}
HEART_FAILURE = {"system": SNOMED, "code": "84114007", "display": "Heart failure"}


# -------------------------------------------------------------------------------------------------- CDS Hooks
def test_an_ehr_condition_coded_13200003_is_a_peptic_ulcer(call):
    found = cards(call, condition("c-pud", PEPTIC_ULCER))
    assert topics(found)["gi"] in ("warning", "critical")


def test_a_resolved_peptic_ulcer_still_counts_as_ulcer_history_for_nsaids(call):
    found = cards(call, condition("c-pud", PEPTIC_ULCER, clinical="resolved"))
    assert topics(found)["gi"] in ("warning", "critical")


def test_a_refuted_or_mistaken_ulcer_is_ignored(call):
    for verification in ("refuted", "entered-in-error"):
        assert cards(call, condition("c-pud", PEPTIC_ULCER, verification=verification)) == []


def test_resolved_heart_failure_does_not_raise_the_heart_failure_nsaid_card(call):
    assert "drug_disease" in topics(cards(call, condition("c-hf", HEART_FAILURE)))
    assert cards(call, condition("c-hf", HEART_FAILURE, clinical="resolved")) == []


def test_an_unknown_code_with_display_history_of_gastric_ulcer_is_ulcer_history_matched_from_text(call):
    unknown = {"system": SNOMED, "code": "999999999", "display": "History of gastric ulcer"}
    found = cards(call, condition("c-hx", unknown))
    assert topics(found)["gi"] in ("warning", "critical")
    note = next(c for c in found if c["source"]["topic"]["code"] == "unresolved")
    assert note["indicator"] == "info" and "from text" in note["summary"]
    assert "History of gastric ulcer" in note["detail"]


def test_condition_text_alone_is_read_and_no_history_of_ulcer_is_not_an_ulcer(call):
    assert topics(cards(call, condition("c-t", text="Peptic ulcer disease")))["gi"] in ("warning", "critical")
    found = cards(call, condition("c-no", text="No history of ulcer"))
    assert "gi" not in topics(found)
    assert [c["indicator"] for c in found] == ["info"]  # "not used": said, never passed off as checked


def test_opioid_use_disorder_in_remission_still_calls_for_naloxone(call):
    oud = condition("c-oud", {"system": ICD10CM, "code": "F11.21", "display": "Opioid dependence, in remission"},
                    clinical="remission")
    oxycodone = medication_request("draft-oxy", "7804", dose={"value": 5, "unit": "mg"}, every_hours=6)
    response = call(SIGN, hook_body("order-sign", [oxycodone], prefetch_50_year_old(oud)))
    assert response.status_code == 200, response.get_json()
    assert any("naloxone" in c["summary"].lower() for c in response.get_json()["cards"])


# -------------------------------------------------------------------------------------------------- native API
def native(conditions: list) -> dict:
    return {"patient": {"age": 50, "crcl": {"value": 90, "unit": "mL/min"}, "conditions": conditions},
            "regimen": [{"drug": "naproxen", "dose": {"value": 500, "unit": "mg"}, "frequency": "BID"}],
            "asOf": "2026-11-27"}


def test_the_native_api_takes_status_and_free_text_and_says_how_each_condition_was_understood(client, auth_headers):
    body = native([{"keyword": "heart_failure", "status": "resolved"},
                   {"system": SNOMED, "code": "13200003", "status": "remission"},
                   {"text": "History of falls"},
                   "hypertension",
                   {"system": SNOMED, "code": "431857002"}])
    response = client.post("/api/v1/checks", json=body, headers=auth_headers)
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    understood = result["derived"]["conditionsUnderstood"]
    assert [(u["keywords"], u["status"], u["matchedBy"]) for u in understood] == [
        (["heart_failure"], "history", "keyword"), (["peptic_ulcer"], "history", "code"),
        (["falls"], "history", "text"), (["hypertension"], "active", "keyword"), (["ckd"], "active", "code")]
    assert set(result["derived"]["conditions"]) == {"peptic_ulcer", "falls", "hypertension", "ckd"}
    codes = {f["code"] for f in result["findings"]}
    assert "gi.nsaid_ulcer_history" in codes and "unresolved.condition_text" in codes
    assert not any(c.startswith("drug_disease.heart_failure") for c in codes)
    stored = client.get(f"/api/v1/checks/{result['id']}", headers=auth_headers).get_json()
    assert stored["derived"]["conditionsUnderstood"] == understood


@pytest.mark.parametrize("bad, field_says", [
    ({"keyword": "peptic_ulcer", "status": "cured"}, "status"),
    ({"keyword": "ulcer"}, "unknown condition keyword"),
    ({"text": ""}, "text"),
    ({"status": "active"}, "needs a keyword"),
    ({"system": "http://example.org/local", "code": "X1"}, "system"),
    ({"text": "gout", "severity": "mild"}, "unknown field"),
    ("peptic ulcer disease", "text"),
])
def test_a_malformed_condition_is_a_400_naming_it(client, auth_headers, bad, field_says):
    response = client.post("/api/v1/checks", json=native(["ckd", bad]), headers=auth_headers)
    assert response.status_code == 400
    assert field_says in str(response.get_json()), response.get_json()
    assert "patient.conditions[1]" in str(response.get_json())
