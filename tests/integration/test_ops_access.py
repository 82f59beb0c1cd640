"""What the service tells a caller without credentials (issue 13, item 16): no sniffing on any answer, and with
STEWARDSHIP_OPS_TOKEN_REQUIRED=on neither the metrics nor the versions and database state without an API token,
while a load balancer's probe still learns whether the service is up."""
from __future__ import annotations

from dataclasses import replace

import pytest

from api import create_app
from stewardship import accounts


@pytest.fixture
def guarded(settings):
    app = create_app(replace(settings, ops_token_required=True))
    store = app.extensions["store"]
    accounts.add_user(store, "ops", "admin", "correct horse battery")
    yield app, {"Authorization": f"Bearer {accounts.create_token(store, 'ops')}"}
    store.engine.dispose()


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/whoami", "/api/v1/checks/unknown", "/openapi.json",
                                  "/metrics", "/no-such-page"])
def test_every_answer_forbids_content_sniffing(client, auth_headers, path):
    assert client.get(path, headers=auth_headers).headers["X-Content-Type-Options"] == "nosniff"


def test_by_default_health_shows_versions_and_metrics_are_open(client):
    assert set(client.get("/healthz").get_json()) == {"status", "version", "knowledgeBase", "rules", "database"}
    assert client.get("/metrics").status_code == 200


def test_with_the_ops_token_required_health_without_a_token_is_the_status_alone(guarded):
    app, headers = guarded
    client = app.test_client()
    for anonymous in ({}, {"Authorization": "Bearer stw_nope_nope"}):
        response = client.get("/healthz", headers=anonymous)
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    detailed = client.get("/healthz", headers=headers).get_json()
    assert detailed["status"] == "ok" and detailed["database"] == "ok" and detailed["version"]


def test_with_the_ops_token_required_metrics_need_a_valid_token(guarded):
    app, headers = guarded
    client = app.test_client()
    for anonymous in ({}, {"Authorization": "Bearer stw_nope_nope"}):
        refused = client.get("/metrics", headers=anonymous)
        assert refused.status_code == 401 and refused.get_json()["error"] == "unauthorized"
        assert "stewardship_request_seconds" not in refused.get_data(as_text=True)
    assert "stewardship_request_seconds" in client.get("/metrics", headers=headers).get_data(as_text=True)


def test_the_setting_is_read_from_the_environment():
    from settings import Settings

    assert Settings.from_env({}).ops_token_required is False
    assert Settings.from_env({"STEWARDSHIP_OPS_TOKEN_REQUIRED": "on"}).ops_token_required is True
    assert Settings.from_env({"STEWARDSHIP_CHECKS_PER_MINUTE": "5"}).checks_per_minute == 5
    assert Settings.from_env({}).checks_per_minute == 60
