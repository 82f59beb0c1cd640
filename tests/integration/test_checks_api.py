"""POST /api/v1/checks and GET /api/v1/checks/{id} over HTTP, stored on SQLite and PostgreSQL."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from adapters.storage import check_findings, checks

CONTRACT_EXAMPLE = {
    "patient": {
        "id": "ehr-12345",
        "birthDate": "1948-03-02",
        "sex": "female",
        "weight": {"value": 61, "unit": "kg"},
        "serumCreatinine": {"value": 1.9, "unit": "mg/dL"},
        "egfr": {"value": 28, "unit": "mL/min/1.73m2"},
        "conditions": ["peptic_ulcer", {"system": "http://snomed.info/sct", "code": "431857002"}],
        "medications": [
            {"drug": {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332"},
             "dose": {"value": 5, "unit": "mg"}, "frequency": "daily", "startDate": "2025-02-01"}],
        "outcomes": [{"drug": "gabapentin", "date": "2026-11-20", "benefit": False, "painScore": 7,
                      "baselinePainScore": 7}],
        "plannedProcedures": [{"procedure": "transforaminal_esi", "date": "2026-12-10"}],
    },
    "regimen": [{"drug": "ibuprofen", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID", "route": "oral",
                 "startDate": "2026-11-27", "durationDays": 14}],
    "asOf": "2026-11-27",
}


def _count(app, table) -> int:
    with app.extensions["store"].engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def test_the_contract_example_gives_the_renal_gi_and_bleeding_findings(client, auth_headers, app):
    response = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=auth_headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/checks/{body['id']}"
    assert body["asOf"] == "2026-11-27"
    assert body["derived"]["ageYears"] == 78 and body["derived"]["renalBasis"] == "cockcroft-gault"
    codes = {f["code"]: f["severity"] for f in body["findings"]}
    assert codes["renal.nsaid.avoid"] == "critical"
    assert codes["gi.nsaid_ulcer_history"] == "critical"
    assert codes["bleeding.anticoagulant_nsaid"] == "critical"
    finding = next(f for f in body["findings"] if f["code"] == "renal.nsaid.avoid")
    assert set(finding) >= {"id", "code", "category", "severity", "drugs", "summary", "detail", "evidence",
                            "suggestions"}
    assert finding["drugs"] == ["ibuprofen"] and finding["evidence"][0]["url"].startswith("http")
    assert body["resolved"][1] == {"line": "regimen[0]", "input": "ibuprofen", "doseForm": None, "route": "oral",
                                   "ingredients": [{"name": "ibuprofen", "rxcui": "5640", "strength": None}]}
    assert body["reminders"] == []
    assert _count(app, checks) == 1 and _count(app, check_findings) == len(body["findings"])


def test_a_stored_check_is_returned_as_it_was_made(client, auth_headers):
    made = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=auth_headers).get_json()
    again = client.get(f"/api/v1/checks/{made['id']}", headers=auth_headers)
    assert again.status_code == 200 and again.get_json() == made


def test_an_unknown_check_is_404(client, auth_headers):
    assert client.get("/api/v1/checks/00000000-0000-0000-0000-000000000000", headers=auth_headers).status_code == 404


def test_creatinine_in_umol_per_l_gives_the_same_crcl(client, auth_headers):
    body = copy.deepcopy(CONTRACT_EXAMPLE)
    body["patient"]["serumCreatinine"] = {"value": 168, "unit": "umol/L"}
    derived = client.post("/api/v1/checks", json=body, headers=auth_headers).get_json()["derived"]
    assert derived["crclMlMin"] == pytest.approx(23.5, abs=0.1)


def _bad(body_change) -> dict:
    body = copy.deepcopy(CONTRACT_EXAMPLE)
    body_change(body)
    return body


@pytest.mark.parametrize("change, fields", [
    (lambda b: b["patient"].update(weight={"value": 61, "unit": "mg/dL"}), {"patient.weight"}),
    (lambda b: b["regimen"][0].update(dose={"value": 600, "unit": "furlongs"}), {"regimen[0].dose"}),
    (lambda b: b["regimen"][0].update(frequency="sometimes"), {"regimen[0].frequency"}),
    (lambda b: b["regimen"][0].update(drug=""), {"regimen[0].drug"}),
    (lambda b: b["patient"].update(conditions=["gout_of_the_soul"]), {"patient.conditions[0]"}),
    (lambda b: b["patient"].update(birthDate="1948-13-45"), {"patient.birthDate"}),
    (lambda b: b.pop("regimen"), {"regimen"}),
    (lambda b: (b["patient"].update(sex="yes"), b["regimen"][0].update(route="ear")),
     {"patient.sex", "regimen[0].route"}),
    (lambda b: b.update(surprise=1), {"surprise"}),
    # an implausible value is named beside every other bad field, not after they are fixed
    (lambda b: (b["patient"].update(weight={"value": 61, "unit": "mg"}, sex="robot")),
     {"patient.weight", "patient.sex"}),
    (lambda b: (b["patient"].update(weight={"value": 61, "unit": "mg"},
                                    serumCreatinine={"value": 1.9, "unit": "furlongs"}),
                b["regimen"][0].pop("frequency")),
     {"patient.weight", "patient.serumCreatinine", "regimen[0].frequency"}),
    # too large to compute with: refused, never answered as "Infinity" (which is not JSON)
    (lambda b: b["regimen"][0].update(dose={"value": 1e308, "unit": "mg"}), {"regimen[0].dose"}),
    (lambda b: b["regimen"][0].update(dose={"value": 1e300, "unit": "tablet"}), {"regimen[0].dose"}),
])
def test_a_malformed_request_is_a_400_naming_every_bad_field_and_nothing_is_stored(client, auth_headers, app,
                                                                                    change, fields):
    response = client.post("/api/v1/checks", json=_bad(change), headers=auth_headers)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == fields, body["fields"]
    assert _count(app, checks) == 0


def test_a_topical_dosed_in_applications_is_accepted_and_quiet(client, auth_headers):
    body = {"patient": {"age": 70, "crcl": {"value": 80, "unit": "mL/min"}},
            "regimen": [{"drug": "capsaicin cream", "dose": {"value": 1, "unit": "application"}, "frequency": "TID"}]}
    response = client.post("/api/v1/checks", json=body, headers=auth_headers)
    assert response.status_code == 201
    assert not [f for f in response.get_json()["findings"] if f["severity"] != "info"]


@pytest.mark.parametrize("typed, route", [("subcutaneous", "sc"), ("PO", "oral"), ("oral", "oral")])
def test_routes_are_taken_as_prescribers_write_them(client, auth_headers, typed, route):
    body = {"patient": {"age": 50}, "regimen": [{"drug": "ibuprofen", "dose": {"value": 400, "unit": "mg"},
                                                 "frequency": "TID", "route": typed}]}
    response = client.post("/api/v1/checks", json=body, headers=auth_headers)
    assert response.status_code == 201
    assert response.get_json()["resolved"][0]["route"] == route


def test_a_body_that_is_not_json_is_a_400(client, auth_headers):
    response = client.post("/api/v1/checks", data="nonsense", headers=auth_headers)
    assert response.status_code == 400 and "(body)" in response.get_json()["fields"]


def test_an_unknown_drug_is_a_finding_not_an_error(client, auth_headers):
    body = _bad(lambda b: b["regimen"].append({"drug": "unicorn tears"}))
    response = client.post("/api/v1/checks", json=body, headers=auth_headers)
    assert response.status_code == 201
    assert any(f["code"] == "unresolved.drug" for f in response.get_json()["findings"])


def test_checks_need_a_token(client):
    assert client.post("/api/v1/checks", json=CONTRACT_EXAMPLE).status_code == 401


def test_the_procedure_plan_alone(client, auth_headers):
    body = {"patient": {"age": 70, "crcl": {"value": 80, "unit": "mL/min"},
                        "medications": [{"drug": "warfarin", "dose": {"value": 5, "unit": "mg"}, "frequency": "daily"}],
                        "plannedProcedures": [{"procedure": "scs_trial", "date": "2026-12-10"}]},
            "asOf": "2026-11-27"}
    response = client.post("/api/v1/procedure-plans", json=body, headers=auth_headers)
    assert response.status_code == 200, response.get_json()
    plan = response.get_json()["procedures"][0]
    assert (plan["procedure"], plan["tier"]) == ("scs_trial", "high")
    assert plan["drugs"][0]["stopOn"] == "2026-12-05" and plan["drugs"][0]["restartOn"] == "2026-12-11"


def test_a_procedure_plan_needs_a_procedure(client, auth_headers):
    response = client.post("/api/v1/procedure-plans", json={"patient": {"age": 70}}, headers=auth_headers)
    assert response.status_code == 400 and "patient.plannedProcedures" in response.get_json()["fields"]
