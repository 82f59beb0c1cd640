"""The knowledge base for the P&T committee: the /knowledge page (pharmacists and admins, audited) and
GET /api/v1/knowledge (any API token): each rule and fact with its source, verification status, reviewer, next
review; bad filters are a clear 400 naming the field."""
from __future__ import annotations

from sqlalchemy import select

from adapters.reviews import audit_log
from stewardship import accounts
from tests.integration.test_pages import PASSWORD, sign_in


def _people(app) -> None:
    for name, role in (("dr.lee", "prescriber"), ("pat.pharmacist", "pharmacist")):
        accounts.add_user(app.extensions["store"], name, role, PASSWORD)


def test_the_api_lists_every_fact_with_its_verification_and_review(client, auth_headers):
    body = client.get("/api/v1/knowledge", headers=auth_headers).get_json()
    assert body["counts"]["items"] == len(body["items"]) and body["counts"]["unverified"] > 0
    dabigatran = [i for i in body["items"] if i["subject"] == "dabigatran" and i["kind"] == "procedure_hold"]
    assert dabigatran and all(i["status"] == "unverified" and i["unverifiedReason"] for i in dabigatran)
    # apixaban's hold is its label's own sentence, read in the label text: verified, and said to be the label's minimum
    apixaban = [i for i in body["items"] if i["subject"] == "apixaban" and i["kind"] == "procedure_hold"]
    assert apixaban and all(i["status"] == "verified" and "label's own minimum" in i["note"] for i in apixaban)
    rule = next(i for i in body["items"] if i["kind"] == "rule")
    assert rule["checkedBy"] and rule["nextReview"] and rule["sources"][0]["citation"]
    assert {r["file"] for r in body["reviews"]} >= {"opioids.yaml", "procedures.yaml", "rules.yaml"}


def test_the_api_filters_by_status_and_kind(client, auth_headers):
    body = client.get("/api/v1/knowledge?status=unverified&kind=hepatic", headers=auth_headers).get_json()
    assert body["items"] and {(i["status"], i["kind"]) for i in body["items"]} == {("unverified", "hepatic")}


def test_a_bad_filter_is_a_400_naming_the_field(client, auth_headers):
    response = client.get("/api/v1/knowledge?status=maybe&kind=rumour", headers=auth_headers)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"status", "kind"}


def test_the_api_needs_a_token(client):
    assert client.get("/api/v1/knowledge").status_code == 401


def test_the_page_is_for_pharmacists_and_escapes_and_audits(app):
    _people(app)
    prescriber, client = app.test_client(), app.test_client()
    sign_in(prescriber, "dr.lee")
    assert prescriber.get("/knowledge").status_code == 403
    sign_in(client, "pat.pharmacist")
    response = client.get("/knowledge?status=unverified")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Knowledge base" in page and "unverified" in page and "apixaban" in page
    assert "<script" not in page
    with app.extensions["store"].engine.connect() as connection:
        actions = connection.execute(select(audit_log.c.action).where(audit_log.c.user_name == "pat.pharmacist"))
        assert "view_knowledge" in {row.action for row in actions}
    assert client.get("/knowledge?kind=rumour").status_code == 400
