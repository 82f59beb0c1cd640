"""`GET /api/v1/reviews` and `POST /api/v1/reviews/{id}/decision` (contract 2.4), on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from adapters.reviews import audit_log, review_decisions
from api import create_app
from stewardship import accounts
from tests.integration.test_pages import sign_in

OLDER_CKD = {"patient": {"age": 78, "sex": "female", "weight": {"value": 61, "unit": "kg"},
                         "serumCreatinine": {"value": 1.9, "unit": "mg/dL"}, "conditions": ["ckd"]},
             "regimen": [{"drug": "ibuprofen", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID"}]}
YOUNGER_SEDATION = {"patient": {"age": 40, "sex": "male"},
                    "regimen": [{"drug": "oxycodone", "dose": {"value": 5, "unit": "mg"}, "frequency": "q6h"},
                                {"drug": "gabapentin", "dose": {"value": 300, "unit": "mg"}, "frequency": "TID"}]}
CLEAN = {"patient": {"age": 40, "sex": "male"},
         "regimen": [{"drug": "acetaminophen", "dose": {"value": 500, "unit": "mg"}, "frequency": "TID"}]}


def _bearer(app, name: str, role: str) -> dict[str, str]:
    store = app.extensions["store"]
    accounts.add_user(store, name, role, "correct horse battery")
    return {"Authorization": f"Bearer {accounts.create_token(store, name)}"}


def _check(client, headers, body) -> str:
    response = client.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _count(app, table) -> int:
    with app.extensions["store"].engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def test_checks_with_a_warning_or_critical_are_open_items_highest_priority_first(client, app, auth_headers):
    younger = _check(client, auth_headers, YOUNGER_SEDATION)
    older = _check(client, auth_headers, OLDER_CKD)
    _check(client, auth_headers, CLEAN)
    response = client.get("/api/v1/reviews", headers=auth_headers)
    assert response.status_code == 200
    items = response.get_json()["reviews"]
    assert [item["id"] for item in items] == [older, younger]  # the clean check is no review item
    first = items[0]
    assert first["status"] == "open" and first["maxSeverity"] == "critical" and first["decision"] is None
    # critical (3) x risk (1 + age >= 65 + CrCl < 30 = 3) x actionable (2)
    assert first["priority"] == 18 and first["ageYears"] == 78 and first["crclMlMin"] < 30
    assert "renal" in first["categories"] and first["requester"] == "pat.pharmacist"
    assert items[1]["priority"] < first["priority"]


def test_every_critical_comes_before_any_warning_whatever_the_priority(client, auth_headers):
    # a warning for an 80-year-old with a suggestion (2 x 2 x 2 = 8) outranks a young critical (3 x 1 x 2 = 6) on
    # priority, but the contract's queue is "most severe first"
    warning = _check(client, auth_headers, {"patient": {"age": 80, "crcl": {"value": 50, "unit": "mL/min"}},
                                             "regimen": [{"drug": "cyclobenzaprine", "dose": {"value": 5, "unit": "mg"},
                                                          "frequency": "TID"}]})
    critical = _check(client, auth_headers, {
        "patient": {"age": 40, "crcl": {"value": 90, "unit": "mL/min"},
                    "medications": [{"drug": "warfarin", "dose": {"value": 5, "unit": "mg"}, "frequency": "daily"}]},
        "regimen": [{"drug": "ibuprofen", "dose": {"value": 400, "unit": "mg"}, "frequency": "TID"}]})
    items = client.get("/api/v1/reviews", headers=auth_headers).get_json()["reviews"]
    assert [i["id"] for i in items] == [critical, warning]
    assert items[0]["priority"] < items[1]["priority"]


def test_the_priority_weights_are_the_sites_and_the_queue_page_says_them(settings, tmp_path):
    override = tmp_path / "site-rules.yaml"
    override.write_text("review_priority:\n  severity: {critical: 5, warning: 2, other: 1}\n  actionable: 3\n")
    site = create_app(replace(settings, rules_override=override))
    try:
        client, headers = site.test_client(), _bearer(site, "pat.pharmacist", "pharmacist")
        _check(client, headers, OLDER_CKD)
        first = client.get("/api/v1/reviews", headers=headers).get_json()["reviews"][0]
        # critical (5) x risk (1 + age >= 65 + CrCl < 30 = 3) x actionable (3)
        assert first["priority"] == 45
        sign_in(client, "pat.pharmacist", "correct horse battery")
        page = client.get("/reviews").get_data(as_text=True)
        assert "critical 5, warning 2" in page and "plus 1 for age ≥ 65, plus 1 for CrCl &lt; 30 mL/min" in page
        assert "<strong>actionability</strong>: 3 when" in page and "Priority runs from 2 to 45" in page
    finally:
        site.extensions["store"].engine.dispose()


def test_the_whole_decision_trail_is_readable_oldest_first(client, auth_headers):
    made = _check(client, auth_headers, OLDER_CKD)
    for decision, note in (("approved", None), ("changes_requested", "lower the dose")):
        client.post(f"/api/v1/reviews/{made}/decision", json={"decision": decision, "note": note},
                    headers=auth_headers)
    item = client.get(f"/api/v1/reviews/{made}", headers=auth_headers).get_json()
    assert item["status"] == "closed" and [d["decision"] for d in item["decisions"]] == ["approved",
                                                                                           "changes_requested"]
    assert client.get(f"/api/v1/reviews/{uuid.uuid4()}", headers=auth_headers).status_code == 404


def test_a_prescriber_token_is_refused_with_the_json_error_shape(client, app):
    headers = _bearer(app, "dr.lee", "prescriber")
    response = client.get("/api/v1/reviews", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden" and "prescriber" in response.get_json()["message"]
    assert client.post("/api/v1/reviews/x/decision", json={"decision": "approved"}, headers=headers).status_code == 403


def test_decisions_are_appended_and_the_newest_is_in_force(client, app, auth_headers):
    check_id = _check(client, auth_headers, OLDER_CKD)
    first = client.post(f"/api/v1/reviews/{check_id}/decision", headers=auth_headers,
                        json={"decision": "changes_requested", "note": "use acetaminophen"})
    assert first.status_code == 201
    assert first.get_json()["decidedBy"] == "pat.pharmacist" and first.get_json()["checkId"] == check_id
    admin = _bearer(app, "ada.admin", "admin")
    second = client.post(f"/api/v1/reviews/{check_id}/decision", headers=admin, json={"decision": "approved"})
    assert second.status_code == 201 and second.get_json()["id"] != first.get_json()["id"]

    assert client.get("/api/v1/reviews", headers=auth_headers).get_json()["reviews"] == []
    closed = client.get("/api/v1/reviews?status=closed", headers=auth_headers).get_json()["reviews"]
    assert [item["decision"]["decision"] for item in closed] == ["approved"]
    with app.extensions["store"].engine.connect() as connection:
        trail = connection.execute(select(review_decisions.c.decision, review_decisions.c.decided_by,
                                          review_decisions.c.note).order_by(review_decisions.c.id)).all()
    assert [tuple(row) for row in trail] == [("changes_requested", "pat.pharmacist", "use acetaminophen"),
                                            ("approved", "ada.admin", None)]
    with app.extensions["store"].engine.connect() as connection:
        audited = connection.execute(select(audit_log.c.user_name, audit_log.c.action, audit_log.c.target)
                                     .where(audit_log.c.action == "decide").order_by(audit_log.c.id)).all()
    assert [row.user_name for row in audited] == ["pat.pharmacist", "ada.admin"]
    assert audited[0].target == f"check:{check_id}:changes_requested"


@pytest.mark.parametrize("body, field", [
    ({"decision": "maybe"}, "decision"),
    ({}, "decision"),
    ({"decision": "rejected"}, "note"),
    ({"decision": "rejected", "note": "   "}, "note"),
    ({"decision": "approved", "wieght": 1}, "wieght"),
])
def test_a_bad_decision_is_a_400_naming_the_field(client, app, auth_headers, body, field):
    check_id = _check(client, auth_headers, OLDER_CKD)
    response = client.post(f"/api/v1/reviews/{check_id}/decision", json=body, headers=auth_headers)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]
    assert _count(app, review_decisions) == 0


def test_an_unknown_check_or_one_without_a_warning_is_404(client, auth_headers):
    clean = _check(client, auth_headers, CLEAN)
    for check_id in ("00000000-0000-0000-0000-000000000000", clean):
        response = client.post(f"/api/v1/reviews/{check_id}/decision", json={"decision": "approved"},
                               headers=auth_headers)
        assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_a_bad_status_is_a_400(client, auth_headers):
    response = client.get("/api/v1/reviews?status=pending", headers=auth_headers)
    assert response.status_code == 400 and "status" in response.get_json()["fields"]


# ------------------------------------------------------------------------------------- a bounded queue (issue 13, item 9)
def test_the_queue_comes_in_pages_that_say_where_the_next_one_starts(client, auth_headers):
    made = [_check(client, auth_headers, OLDER_CKD if index % 2 else YOUNGER_SEDATION) for index in range(5)]
    whole = client.get("/api/v1/reviews", headers=auth_headers).get_json()
    assert whole["limit"] == 50 and whole["offset"] == 0 and whole["nextOffset"] is None and whole["next"] is None
    assert sorted(item["id"] for item in whole["reviews"]) == sorted(made)
    pages, url = [], "/api/v1/reviews?limit=2"
    while url:
        page = client.get(url, headers=auth_headers).get_json()
        assert len(page["reviews"]) <= 2
        pages.append([item["id"] for item in page["reviews"]])
        url = page["next"]
    assert pages == [[item["id"] for item in whole["reviews"]][start:start + 2] for start in (0, 2, 4)]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "offset=-1"])
def test_a_page_size_out_of_bounds_is_a_400(client, auth_headers, query):
    response = client.get(f"/api/v1/reviews?{query}", headers=auth_headers)
    assert response.status_code == 400 and query.split("=")[0] in response.get_json()["fields"]


def test_a_queue_of_large_checks_is_read_without_their_json(client, app, auth_headers):
    """Every warning and critical finding is listed, from the findings table; a check's stored request and response
    (up to about a megabyte each) stay in the database, so a view costs the same whatever one prescriber sends."""
    import tracemalloc

    from tests.integration.test_checks_api import _maximal_body

    body = _maximal_body()
    body["regimen"][:2] = [{"drug": "ibuprofen", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID"},
                           {"drug": "oxycodone", "dose": {"value": 5, "unit": "mg"}, "frequency": "q6h"}]
    made = [_check(client, auth_headers, body) for _ in range(4)]
    client.get("/api/v1/reviews", headers=auth_headers)  # warm: imports and caches are not the queue's cost
    tracemalloc.start()
    try:
        response = client.get("/api/v1/reviews", headers=auth_headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    items = response.get_json()["reviews"]
    assert sorted(item["id"] for item in items) == sorted(made)
    stored = client.get(f"/api/v1/checks/{made[0]}", headers=auth_headers).get_json()["findings"]
    assert items[0]["findings"] == [{k: f[k] for k in ("code", "category", "severity", "summary")}
                                    for f in stored if f["severity"] in ("critical", "warning")]
    assert peak < 2 * len(response.data) + 2_000_000, f"{peak:,} bytes for a {len(response.data):,}-byte answer"
