"""Accounts, tokens and the drugs API over HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import cli
from stewardship import accounts


def test_healthz_answers_with_the_service_and_knowledge_base_versions(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"] and body["knowledgeBase"] == app.extensions["kb"].version


def test_the_api_is_closed_without_a_token(client):
    response = client.get("/api/v1/drugs?q=ibu")
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer stw_0000000000000000_wrong", "Basic abc", "Bearer "])
def test_a_wrong_token_is_refused(client, token, header):
    assert client.get("/api/v1/drugs?q=ibu", headers={"Authorization": header}).status_code == 401


def test_a_token_from_the_cli_opens_the_api(client, app, settings, monkeypatch):
    monkeypatch.setenv("STEWARDSHIP_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    added = runner.invoke(cli.main, ["users", "add", "dr.lee", "--role", "prescriber"], input="s3cret-enough\n")
    assert added.exit_code == 0, added.output
    created = runner.invoke(cli.main, ["tokens", "create", "dr.lee"])
    assert created.exit_code == 0, created.output
    token = created.output.strip()
    response = client.get("/api/v1/drugs?q=ibu", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_secrets_are_stored_hashed(app, token):
    store = app.extensions["store"]
    user = store.get_user("pat.pharmacist")
    assert "correct horse" not in user.password_hash and user.password_hash.startswith("scrypt:")  # werkzeug scrypt
    assert accounts.verify_password("correct horse battery", user.password_hash)
    assert not accounts.verify_password("wrong", user.password_hash)
    token_id = token.split("_")[1]
    assert token.split("_", 2)[2] not in store.get_token(token_id).secret_hash


def test_the_cli_refuses_an_unknown_role_and_a_short_password(settings, monkeypatch):
    monkeypatch.setenv("STEWARDSHIP_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    assert runner.invoke(cli.main, ["users", "add", "x1", "--role", "wizard"], input="longenough\n").exit_code != 0
    short = runner.invoke(cli.main, ["users", "add", "x1", "--role", "admin"], input="short\n")
    assert short.exit_code != 0 and "at least 8" in short.output
    assert runner.invoke(cli.main, ["tokens", "create", "nobody"]).exit_code != 0


def test_auth_off_opens_the_api_for_local_development(settings):
    from dataclasses import replace

    from api import create_app

    app = create_app(replace(settings, auth=False))
    try:
        assert app.test_client().get("/api/v1/drugs?q=ibu").status_code == 200
    finally:
        app.extensions["store"].engine.dispose()


def test_drug_search_returns_up_to_20_names(client, auth_headers):
    response = client.get("/api/v1/drugs?q=oxy", headers=auth_headers)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert 0 < len(results) <= 20
    assert {"name": "oxycodone", "rxcui": "7804", "kind": "ingredient"} in results


def test_drug_search_needs_two_characters(client, auth_headers):
    response = client.get("/api/v1/drugs?q=o", headers=auth_headers)
    assert response.status_code == 400
    assert "q" in response.get_json()["fields"]


def test_resolve_norco_by_text(client, auth_headers):
    response = client.get("/api/v1/drugs/resolve", query_string={"text": "Norco 10/325"}, headers=auth_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["input"] == "Norco 10/325" and body["doseForm"] == "Oral Tablet"
    assert {(i["name"], i["rxcui"], i["strength"]["value"], i["strength"]["unit"]) for i in body["ingredients"]} == {
        ("hydrocodone", "5489", 10.0, "mg"), ("acetaminophen", "161", 325.0, "mg")}


def test_resolve_by_rxcui(client, auth_headers):
    body = client.get("/api/v1/drugs/resolve?rxcui=197806", headers=auth_headers).get_json()
    assert body["ingredients"] == [{"name": "ibuprofen", "rxcui": "5640", "strength": {"value": 600.0, "unit": "mg"},
                                    "assessed": True}]
    assert body["matchedBy"] == "rxcui" and body["matchedHow"] == "rxcui:SCD"


def test_resolve_unknown_is_404_with_input_and_reason(client, auth_headers):
    response = client.get("/api/v1/drugs/resolve?text=unicorn%20tears", headers=auth_headers)
    assert response.status_code == 404
    body = response.get_json()
    assert body["input"] == "unicorn tears" and body["reason"]


def test_resolve_needs_exactly_one_of_text_rxcui_or_ndc(client, auth_headers):
    response = client.get("/api/v1/drugs/resolve", headers=auth_headers)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"text", "rxcui", "ndc"}


def test_an_unknown_route_answers_in_the_json_error_shape(client, auth_headers):
    response = client.get("/api/v1/nothing-here", headers=auth_headers)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_openapi_describes_every_route(client, app):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in spec["paths"]}
    # the pages for people (web/pages.py) are HTML, not the API: tests/integration/test_pages.py covers them
    served = {rule.rule for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.endpoint.startswith("pages.")}
    assert served - {"/openapi.json"} <= documented


def test_whoami_names_the_tokens_user(client, auth_headers):
    assert client.get("/api/v1/whoami", headers=auth_headers).get_json() == {"user": "pat.pharmacist",
                                                                            "role": "pharmacist"}
