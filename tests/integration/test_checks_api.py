"""POST /api/v1/checks and GET /api/v1/checks/{id} over HTTP, stored on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import replace

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
                                   "matchedBy": "text", "ingredients": [{"name": "ibuprofen", "rxcui": "5640",
                                                                         "strength": None, "assessed": True}]}
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


# ------------------------------------------------------------------------------------ who reads which check (issue 13)
def _bearer(app, name: str, role: str) -> dict[str, str]:
    from stewardship import accounts

    store = app.extensions["store"]
    accounts.add_user(store, name, role, "correct horse battery")
    return {"Authorization": f"Bearer {accounts.create_token(store, name)}"}


def _prescriber(app, name: str) -> dict[str, str]:
    return _bearer(app, name, "prescriber")


def _audited(app, action: str) -> list[tuple[str, str]]:
    from adapters.reviews import audit_log

    with app.extensions["store"].engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(audit_log.c.user_name, audit_log.c.target)
                                                         .where(audit_log.c.action == action)
                                                         .order_by(audit_log.c.id))]


def test_a_prescriber_cannot_read_another_prescribers_check_and_learns_nothing_from_its_id(client, app):
    lee, kim = _prescriber(app, "dr.lee"), _prescriber(app, "dr.kim")
    made = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).get_json()
    assert client.get(f"/api/v1/checks/{made['id']}", headers=lee).get_json() == made
    theirs = client.get(f"/api/v1/checks/{made['id']}", headers=kim)
    unknown_id = "00000000-0000-0000-0000-000000000000"
    unknown = client.get(f"/api/v1/checks/{unknown_id}", headers=kim)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json() == {**unknown.get_json(), "message": unknown.get_json()["message"].replace(unknown_id,
                                                                                                      made["id"])}


@pytest.mark.parametrize("role", ["pharmacist", "admin"])
def test_pharmacists_and_admins_read_every_check(client, app, role):
    made = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=_prescriber(app, "dr.lee")).get_json()
    assert client.get(f"/api/v1/checks/{made['id']}", headers=_bearer(app, "reviewer", role)).get_json() == made


def test_checks_made_and_read_through_the_api_are_in_the_audit_log(client, app):
    lee = _prescriber(app, "dr.lee")
    made = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).get_json()
    client.get(f"/api/v1/checks/{made['id']}", headers=_bearer(app, "pat.pharmacist", "pharmacist"))
    assert _audited(app, "create_check") == [("dr.lee", f"api:check:{made['id']}")]
    assert _audited(app, "view_check") == [("pat.pharmacist", f"api:check:{made['id']}")]


# ----------------------------------------------------------------------------------------- bounded checks (issue 13)
def _maximal_body() -> dict:
    """Every list at its maximum length and every string at its maximum: the largest check the schema admits."""
    def line(index: int, prefix: str) -> dict:
        return {"drug": f"{prefix}{index:03d}".ljust(200, "q"), "dose": {"value": 5, "unit": "mg"},
                "frequency": "TID", "note": "n" * 1000, "startDate": "2026-01-05", "durationDays": 3650}
    return {"patient": {"id": "p" * 200, "age": 80, "crcl": {"value": 20, "unit": "mL/min"},
                        "conditions": [{"system": "http://snomed.info/sct", "code": "9" * 64}] * 200,
                        "medications": [line(i, "med") for i in range(100)],
                        "outcomes": [{"drug": "g" * 200, "date": "2026-01-01", "benefit": False,
                                      "note": "o" * 2000}] * 200,
                        "plannedProcedures": [{"procedure": "scs_trial", "date": "2026-12-10"}] * 20},
            "regimen": [line(i, "reg") for i in range(100)], "asOf": "2026-11-27"}


def test_the_largest_check_the_schema_admits_is_stored_in_bounded_size(client, auth_headers, app):
    made = client.post("/api/v1/checks", json=_maximal_body(), headers=auth_headers)
    assert made.status_code == 201, made.get_json()
    with app.extensions["store"].engine.connect() as connection:
        request_json, response_json = connection.execute(select(checks.c.request, checks.c.response)).one()
    assert len(json.dumps(request_json)) + len(json.dumps(response_json)) < 1_500_000


@pytest.mark.parametrize("change, field", [
    (lambda b: b["regimen"][0]["dose"].update(padding="x" * 100_000), "regimen[0].dose"),
    (lambda b: b["patient"]["weight"].update(padding="x" * 100_000), "patient.weight"),
    (lambda b: b["regimen"][0].update(frequency={"timesPerDay": 3, "padding": "x" * 100_000}),
     "regimen[0].frequency"),
    (lambda b: b["patient"]["medications"][0].update(drug={"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                           "code": "855332", "padding": "x" * 100_000}),
     "patient.medications[0].drug"),
    (lambda b: b["patient"]["medications"][0].update(drug={"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                           "code": "8" * 100_000}), "patient.medications[0].drug"),
    (lambda b: b["patient"]["conditions"].append({"system": "http://snomed.info/sct", "code": "9" * 100_000}),
     "patient.conditions[2]"),
])
def test_a_check_cannot_carry_unbounded_text_into_the_database(client, auth_headers, app, change, field):
    response = client.post("/api/v1/checks", json=_bad(change), headers=auth_headers)
    assert response.status_code == 400 and field in response.get_json()["fields"], response.get_json()
    assert _count(app, checks) == 0


@pytest.mark.parametrize("escaped, field", [
    ('"patient": {"id": "p\\ud800x", "age": 70}, "regimen": [{"drug": "ibuprofen"}]', "patient.id"),
    ('"patient": {"age": 70}, "regimen": [{"drug": "ibu\\uDC00profen"}]', "regimen[0].drug"),
    ('"patient": {"age": 70}, "regimen": [{"drug": "ibuprofen", "\\ud800": 1}]', "regimen[0].\\ud800"),
])
def test_a_lone_surrogate_escape_is_a_400_naming_the_field_and_nothing_is_stored(client, auth_headers, app,
                                                                                 escaped, field):
    """Neither database can store a string that UTF-8 cannot write (it was a 500 on both)."""
    response = client.post("/api/v1/checks", data=f'{{{escaped}, "asOf": "2026-11-27"}}',
                           content_type="application/json", headers=auth_headers)
    assert response.status_code == 400 and field in response.get_json()["fields"], response.get_json()
    assert _count(app, checks) == 0


def test_a_surrogate_pair_escape_is_one_character_and_accepted(client, auth_headers):
    response = client.post("/api/v1/checks", data='{"patient": {"id": "p\\ud83d\\ude00", "age": 70}, '
                           '"regimen": [{"drug": "ibuprofen"}], "asOf": "2026-11-27"}',
                           content_type="application/json", headers=auth_headers)
    assert response.status_code == 201, response.get_json()


# ----------------------------------------------------------------------------- checks per minute per user (issue 13)
@pytest.fixture
def limited(settings):
    from api import create_app

    apps = [create_app(replace(settings, checks_per_minute=3)) for _ in range(2)]  # two workers, one database
    yield apps
    for each in apps:
        each.extensions["store"].engine.dispose()


def test_a_user_over_the_checks_per_minute_gets_a_429_with_retry_after(limited):
    first, _ = limited
    lee, kim = _prescriber(first, "dr.lee"), _prescriber(first, "dr.kim")
    client = first.test_client()
    assert [client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).status_code
            for _ in range(3)] == [201] * 3
    refused = client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == "too_many_requests" and "3 checks a minute" in refused.get_json()["message"]
    assert _count(first, checks) == 3
    assert client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=kim).status_code == 201  # per user


def test_every_worker_counts_the_same_checks(limited):
    first, second = limited
    lee = _prescriber(first, "dr.lee")
    for _ in range(3):
        assert first.test_client().post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).status_code == 201
    assert second.test_client().post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).status_code == 429


def test_a_refused_check_does_not_use_up_its_idempotency_key(limited):
    first, _ = limited
    lee = _prescriber(first, "dr.lee")
    client = first.test_client()
    for _ in range(3):
        client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee)
    keyed = {**lee, "Idempotency-Key": "after-the-wait"}
    assert client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=keyed).status_code == 429
    with first.extensions["store"].engine.begin() as connection:  # the minute passes
        connection.execute(checks.update().values(created_at=checks.c.created_at - dt.timedelta(minutes=2)))
    assert client.post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=keyed).status_code == 201


def test_checks_from_ehr_hook_calls_do_not_count_against_the_user(limited):
    from stewardship.services import check_regimen
    from web.schemas import CheckSchema

    first, _ = limited
    store = first.extensions["store"]
    for _ in range(3):  # what a hook call stores for the user signing orders in the EHR
        check_regimen(first.extensions["engine"], store, CheckSchema().load(CONTRACT_EXAMPLE), CONTRACT_EXAMPLE,
                      "dr.lee", source="cds:order-sign")
    lee = _prescriber(first, "dr.lee")
    assert first.test_client().post("/api/v1/checks", json=CONTRACT_EXAMPLE, headers=lee).status_code == 201
