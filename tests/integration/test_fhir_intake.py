"""What EHRs really send (issue 11), through the order-sign service: warfarin recorded as any of the four FHIR
medication resources, codes the service does not know with a display or text it does, every dose shape, drafts
missing elements the check does not need, and medications referenced on the EHR's FHIR server. On SQLite and
PostgreSQL, against a real FHIR server on 127.0.0.1.

Records are built from the Synthea sample (tests/fixtures/synthea-10-patients, Apache-2.0): the active warfarin
MedicationRequest of patient c34852c9 is re-expressed as the MedicationStatement, MedicationDispense and
MedicationAdministration an EHR would hold for it (see tests/fixtures/fhir-medications/README.md)."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from sqlalchemy import select

from adapters.storage import checks
from tests.fhir_server import SAMPLES, FhirServer
from tests.integration.test_cds_hooks import (  # noqa: F401
    CKD4,
    IBUPROFEN_600,
    RXNORM,
    SIGN,
    bundle,
    call,
    call_with_fhir,
    cds_app,
    ehr_key,
    hook_body,
    issuer_entry,
    medication_request,
    prefetch_78_ckd4_on_warfarin,
    trusting,
)

TODAY = dt.datetime.now(dt.timezone.utc)
TABLETS = {"unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}
FHIR_AUTH = {"access_token": "fhir-token", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
             "subject": "stewardship"}


def synthea_warfarin() -> dict:
    """The Synthea warfarin 5 mg order (RxNorm 855332), moved to patient pt-78."""
    with (SAMPLES / "MedicationRequest.ndjson").open(encoding="utf-8") as handle:
        order = next(r for r in map(json.loads, handle) if r["status"] == "active"
                     and r["medicationCodeableConcept"]["coding"][0]["code"] == "855332")
    return {**order, "subject": {"reference": "Patient/pt-78"}}


def as_statement(order: dict, status: str = "active") -> dict:
    return {"resourceType": "MedicationStatement", "id": "ms-warfarin", "status": status,
            "medicationCodeableConcept": order["medicationCodeableConcept"], "subject": order["subject"],
            "effectivePeriod": {"start": order["authoredOn"]}, "dosage": [{"text": "1 tablet daily"}]}


def as_dispense(order: dict, days_ago: int = 3) -> dict:
    handed = (TODAY - dt.timedelta(days=days_ago)).isoformat()
    return {"resourceType": "MedicationDispense", "id": "md-warfarin", "status": "completed",
            "medicationCodeableConcept": order["medicationCodeableConcept"], "subject": order["subject"],
            "authorizingPrescription": [{"reference": f"MedicationRequest/{order['id']}"}],
            "quantity": {"value": 30, **TABLETS}, "daysSupply": {"value": 30, "unit": "day", "code": "d",
                                                                 "system": "http://unitsofmeasure.org"},
            "whenHandedOver": handed,
            "dosageInstruction": [{"timing": {"code": {"coding": [{"code": "QD"}]}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}]}]}


def as_administration(order: dict, hours_ago: int = 6) -> dict:
    return {"resourceType": "MedicationAdministration", "id": "ma-warfarin", "status": "completed",
            "medicationCodeableConcept": order["medicationCodeableConcept"], "subject": order["subject"],
            "effectiveDateTime": (TODAY - dt.timedelta(hours=hours_ago)).isoformat(),
            "dosage": {"dose": {"value": 5, "unit": "mg", "code": "mg"}}}


def prefetch_with(**medications) -> dict:
    prefetch = prefetch_78_ckd4_on_warfarin()
    prefetch["medications"] = None
    prefetch.update(medications)
    return prefetch


def topics(response) -> dict[str, str]:
    """The most severe finding of each category on the cards (a card lists the findings it stands for)."""
    found: dict[str, str] = {}
    for card in response.get_json()["cards"]:
        edge = {"category": card["source"].get("topic", {}).get("code", card["summary"]), "severity": card["indicator"]}
        for finding in card.get("extension", {}).get("stewardship.findings") or [edge]:
            topic = finding["category"]
            found[topic] = min(found.get(topic, "info"), finding["severity"], key=["critical", "warning", "info"].index)
    return found


def stored(application) -> dict:
    with application.extensions["store"].engine.connect() as connection:
        return connection.execute(select(checks.c.response).order_by(checks.c.created_at.desc())).first()[0]


# ------------------------------------------------------------------------------- four medication resources
@pytest.mark.parametrize("key, record", [
    ("medications", lambda o: bundle(o)),
    ("medicationStatements", lambda o: bundle(as_statement(o))),
    ("medicationDispenses", lambda o: bundle(as_dispense(o))),
    ("medicationAdministrations", lambda o: bundle(as_administration(o))),
])
def test_warfarin_recorded_as_any_medication_resource_makes_ibuprofen_a_bleeding_risk(call, key, record):
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(**{key: record(synthea_warfarin())})))
    assert response.status_code == 200, response.get_json()
    assert topics(response).get("bleeding") == "critical"


@pytest.mark.parametrize("record", [
    lambda o: as_statement(o, status="entered-in-error"),
    lambda o: as_statement(o, status="not-taken"),
    lambda o: as_dispense(o, days_ago=60),  # its 30 days' supply ran out a month ago
    lambda o: as_administration(o, hours_ago=72),
])
def test_warfarin_that_is_not_current_raises_no_bleeding_card(call, record):
    raw = record(synthea_warfarin())
    key = {"MedicationStatement": "medicationStatements", "MedicationDispense": "medicationDispenses",
           "MedicationAdministration": "medicationAdministrations"}[raw["resourceType"]]
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(**{key: bundle(raw)})))
    assert response.status_code == 200 and "bleeding" not in topics(response)


def test_one_drug_in_request_dispense_and_administration_is_one_current_medication(call, cds_app):
    order = synthea_warfarin()
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(
        medications=bundle(order), medicationDispenses=bundle(as_dispense(order)),
        medicationAdministrations=bundle(as_administration(order)))))
    assert topics(response).get("bleeding") == "critical"
    medications = [r for r in stored(cds_app)["resolved"] if r["line"].startswith("patient.medications")]
    assert len(medications) == 1 and medications[0]["ingredients"][0]["name"] == "warfarin"
    assert "duplication" not in topics(response)


def test_the_optional_medication_keys_missing_are_no_412(call):
    prefetch = prefetch_78_ckd4_on_warfarin()
    assert not {"medicationStatements", "medicationDispenses", "medicationAdministrations"} & set(prefetch)
    assert call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch)).status_code == 200


def test_discovery_asks_for_all_four_medication_resources_as_optional(cds_app):
    service = cds_app.test_client().get("/cds-services").get_json()["services"][0]
    for key, resource in (("medicationStatements", "MedicationStatement?"), ("medicationDispenses", "MedicationDispense?"),
                          ("medicationAdministrations", "MedicationAdministration?")):
        assert service["prefetch"][key].startswith(resource)
        assert key in service["usageRequirements"]
    assert "_include" not in json.dumps(service["prefetch"])  # CDS Hooks 2.0 prefetch: no _include


# ------------------------------------------------------------------------------------------- text fallback
def test_an_unknown_code_with_a_known_display_is_identified_from_the_display(call, cds_app):
    order = synthea_warfarin()
    order["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "999999990",
                                                      "display": "Warfarin Sodium 5 MG Oral Tablet"}]}
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(medications=bundle(order))))
    assert topics(response).get("bleeding") == "critical"
    warfarin = next(r for r in stored(cds_app)["resolved"] if r["line"] == "patient.medications[0]")
    assert warfarin["from"] == "coding.display" and warfarin["ingredients"][0]["name"] == "warfarin"


def test_a_medication_known_only_by_text_is_identified(call):
    order = {**synthea_warfarin(), "medicationCodeableConcept": {"text": "warfarin 5 mg tablet"}}
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(medications=bundle(order))))
    assert topics(response).get("bleeding") == "critical"


def test_a_drug_nobody_can_identify_is_an_info_card_naming_it(call):
    order = {**synthea_warfarin(), "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "999999990"}],
                                                                "text": "Zqxolamide 5 mg"}}
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch_with(medications=bundle(order))))
    assert response.status_code == 200 and topics(response).get("unresolved") == "info"
    assert "bleeding" not in topics(response)


def test_a_medication_on_the_ehrs_fhir_server_is_read_by_reference(call_with_fhir):
    order = synthea_warfarin()
    order.pop("medicationCodeableConcept")
    order["medicationReference"] = {"reference": "Medication/med-warfarin"}
    medication = {"resourceType": "Medication", "id": "med-warfarin",
                  "code": {"coding": [{"system": RXNORM, "code": "855332"}]}}
    with FhirServer([medication], token="fhir-token") as server:
        body = hook_body("order-sign", [IBUPROFEN_600], prefetch_with(medications=bundle(order)),
                         fhirServer=server.base, fhirAuthorization=FHIR_AUTH)
        response = call_with_fhir(server.base)(SIGN, body)
        assert any(q.startswith("/fhir/Medication/med-warfarin") for q in server.queries)
    assert topics(response).get("bleeding") == "critical"


def test_a_referenced_medication_is_not_fetched_from_a_server_the_ehr_did_not_list(call):
    order = synthea_warfarin()
    order.pop("medicationCodeableConcept")
    order["medicationReference"] = {"reference": "Medication/med-warfarin", "display": "warfarin 5 mg"}
    with FhirServer([]) as server:
        body = hook_body("order-sign", [IBUPROFEN_600], prefetch_with(medications=bundle(order)),
                         fhirServer=server.base, fhirAuthorization=FHIR_AUTH)
        response = call(SIGN, body)
        assert not server.queries
    assert topics(response).get("bleeding") == "critical"  # from the reference's display


def test_dispenses_left_out_of_prefetch_are_searched_on_the_fhir_server(call_with_fhir):
    order = synthea_warfarin()
    with FhirServer([as_dispense(order)], token="fhir-token") as server:
        prefetch = prefetch_with(medicationStatements=None, medicationAdministrations=None)
        body = hook_body("order-sign", [IBUPROFEN_600], prefetch, fhirServer=server.base,
                         fhirAuthorization=FHIR_AUTH)
        response = call_with_fhir(server.base)(SIGN, body)
        assert any(q.startswith("/fhir/MedicationDispense?patient=pt-78&status=completed") for q in server.queries)
    assert topics(response).get("bleeding") == "critical"


# ---------------------------------------------------------------------------------------------- dose shapes
def oxycodone_draft(dosage: dict) -> dict:
    draft = medication_request("draft-oxy", "1049621")
    draft["dosageInstruction"] = [dosage]
    return draft


def clean_prefetch() -> dict:
    return {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "male", "birthDate": "1980-01-01"},
            "conditions": None, "medications": None, "creatinine": None, "egfr": None, "weight": None}


def mme(application) -> float:
    return stored(application)["derived"]["mmePerDay"]


@pytest.mark.parametrize("dosage", [
    {"doseAndRate": [{"doseRange": {"low": {"value": 1, **TABLETS}, "high": {"value": 2, **TABLETS}}}],
     "timing": {"repeat": {"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}}, "asNeededBoolean": True},
    {"text": "1-2 tablets every 4-6 hours as needed"},
    {"patientInstruction": "Take 1-2 tablets by mouth every 4-6 hours as needed for pain"},
    {"doseAndRate": [{"doseQuantity": {"value": 2, **TABLETS}}], "timing": {"code": {"coding": [{"code": "Q4H"}]}}},
])
def test_oxycodone_1_to_2_tablets_every_4_to_6_hours_is_90_mme_at_the_high_end(call, cds_app, dosage):
    response = call(SIGN, hook_body("order-sign", [oxycodone_draft(dosage)], clean_prefetch()))
    assert response.status_code == 200
    assert mme(cds_app) == 90  # 2 x 5 mg x 6 a day x 1.5
    opioid = [c for c in response.get_json()["cards"] if "MME" in c["summary"]]
    assert opioid and opioid[0]["indicator"] in ("warning", "critical")
    if "doseQuantity" not in json.dumps(dosage):
        assert "high end" in opioid[0]["detail"]


def test_a_dose_the_order_does_not_give_is_said_not_guessed(call, cds_app):
    response = call(SIGN, hook_body("order-sign", [oxycodone_draft({"text": "use as directed"})], clean_prefetch()))
    assert response.status_code == 200 and mme(cds_app) == 0
    assert any("dose" in (c.get("detail") or "").lower() and c["indicator"] == "info"
               for c in response.get_json()["cards"])


def test_an_unreadable_timing_code_is_said_on_an_info_card(call):
    draft = oxycodone_draft({"doseAndRate": [{"doseQuantity": {"value": 1, **TABLETS}}],
                             "timing": {"code": {"coding": [{"code": "WHENEVER"}]}}})
    response = call(SIGN, hook_body("order-sign", [draft], clean_prefetch()))
    unread = [c for c in response.get_json()["cards"] if c["summary"].startswith("Some FHIR data could not be read")]
    assert unread and "WHENEVER" in unread[0]["detail"]


# ------------------------------------------------------------------------------------- liberal in what it takes
def test_a_draft_without_intent_status_or_subject_is_checked_and_says_what_was_missing(call):
    draft = copy.deepcopy(IBUPROFEN_600)
    for element in ("intent", "status", "subject"):
        draft.pop(element)
    response = call(SIGN, hook_body("order-sign", [draft]))
    assert response.status_code == 200, response.get_json()
    assert topics(response).get("renal") == "critical"
    missing = [c for c in response.get_json()["cards"] if c["summary"].startswith("Read although")]
    assert missing and missing[0]["indicator"] == "info" and "intent" in missing[0]["detail"]


def test_a_draft_without_a_medication_is_still_a_400(call):
    draft = copy.deepcopy(IBUPROFEN_600)
    draft.pop("medicationCodeableConcept")
    response = call(SIGN, hook_body("order-sign", [draft]))
    assert response.status_code == 400 and "context.draftOrders.entry[0].resource" in json.dumps(response.get_json())


def test_other_draft_order_types_are_noted_not_refused(call):
    lab = {"resourceType": "ServiceRequest", "id": "lab-1", "status": "draft", "intent": "order",
           "subject": {"reference": "Patient/pt-78"}, "code": {"text": "INR"}}
    body = hook_body("order-sign", [IBUPROFEN_600])
    body["context"]["draftOrders"]["entry"].append({"resource": lab})
    response = call(SIGN, body)
    assert response.status_code == 200 and topics(response).get("renal") == "critical"
    unread = [c for c in response.get_json()["cards"] if c["summary"].startswith("Some FHIR data could not be read")]
    assert unread and "ServiceRequest" in unread[0]["detail"]
