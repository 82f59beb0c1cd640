"""What operators rely on: metrics, request ids, JSON errors for oversized bodies and for a database outage."""
from __future__ import annotations

from dataclasses import replace

import pytest

from api import MAX_BODY_BYTES, create_app

BODY = {"patient": {"age": 70, "crcl": {"value": 25, "unit": "mL/min"}},
        "regimen": [{"drug": "ibuprofen", "dose": {"value": 400, "unit": "mg"}, "frequency": "TID"}]}


def test_metrics_count_requests_and_findings_by_code(client, auth_headers):
    client.post("/api/v1/checks", json=BODY, headers=auth_headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'stewardship_findings_total{code="renal.nsaid.avoid",severity="critical"}' in text
    assert 'stewardship_request_seconds_count{method="POST",route="/api/v1/checks",status="201"}' in text


def test_every_answer_carries_a_request_id(client):
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 32
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"


def test_a_body_the_input_guard_refuses_still_carries_its_request_id_and_is_timed(client, auth_headers):
    response = client.post("/api/v1/checks", data=b'{"patient": {"id": "a\\u0000b"}, "regimen": []}',
                           headers={**auth_headers, "Content-Type": "application/json", "X-Request-Id": "guard-1"})
    assert response.status_code == 400 and response.headers["X-Request-Id"] == "guard-1"
    text = client.get("/metrics").get_data(as_text=True)
    assert 'stewardship_request_seconds_count{method="POST",route="/api/v1/checks",status="400"}' in text


def test_an_oversized_body_is_refused_early_with_the_json_error_shape(client, auth_headers):
    padding = "x" * (MAX_BODY_BYTES + 1)
    response = client.post("/api/v1/checks", data=padding, headers={**auth_headers,
                                                                   "Content-Type": "application/json"})
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_outage_is_a_fast_json_503_and_the_service_recovers(settings, tmp_path):
    broken = create_app(replace(settings, auth=False,
                                database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"))
    try:
        response = broken.test_client().post("/api/v1/checks", json=BODY)
        assert response.status_code == 503
        assert response.get_json()["error"] == "database_unavailable" and response.headers["Retry-After"]
        assert broken.test_client().get("/healthz").status_code == 503
    finally:
        broken.extensions["store"].engine.dispose()


def test_a_retried_check_with_the_same_idempotency_key_is_stored_once(client, auth_headers, app):
    from sqlalchemy import func, select

    from adapters.storage import checks

    headers = {**auth_headers, "Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/checks", json=BODY, headers=headers)
    again = client.post("/api/v1/checks", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    with app.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar() == 1


def test_the_same_idempotency_key_for_another_body_is_refused(client, auth_headers):
    headers = {**auth_headers, "Idempotency-Key": "retry-2"}
    assert client.post("/api/v1/checks", json=BODY, headers=headers).status_code == 201
    other = {**BODY, "asOf": "2026-01-01"}
    assert client.post("/api/v1/checks", json=other, headers=headers).status_code == 422


def test_a_refused_request_replays_its_refusal(client, auth_headers):
    headers = {**auth_headers, "Idempotency-Key": "retry-3"}
    assert client.post("/api/v1/checks", json={"patient": {}}, headers=headers).status_code == 400
    assert client.post("/api/v1/checks", json={"patient": {}}, headers=headers).status_code == 400


def test_every_check_names_the_rules_that_produced_it_and_healthz_names_those_in_force(app, client, auth_headers):
    """Issue 15: any stored answer can be traced to the rules (knowledge base + configuration + override)."""
    in_force = client.get("/healthz").get_json()["rules"]
    made = client.post("/api/v1/checks", json={"patient": {"age": 50}, "regimen": [{"drug": "ibuprofen"}]},
                       headers=auth_headers)
    assert made.status_code == 201 and made.get_json()["rulesVersion"] == in_force
    stored = client.get(f"/api/v1/checks/{made.get_json()['id']}", headers=auth_headers).get_json()
    assert stored["rulesVersion"] == in_force == app.extensions["engine"].rulebook.version
