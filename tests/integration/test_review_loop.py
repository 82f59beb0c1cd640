"""The review loop (issue 14) over the API and the pages, on SQLite and PostgreSQL: a pharmacist claims an item,
decides with an intervention and the findings acted on; the prescriber reads the decision in My checks; decisions
export as CSV; rule statistics credit only the findings a decision names."""
from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlalchemy import select

from adapters.reviews import ClaimTaken, ReviewStore, audit_log, review_claims
from stewardship import accounts
from tests.integration.test_pages import OLDER_CKD_FORM, _csrf, sign_in
from tests.integration.test_reviews_api import OLDER_CKD, YOUNGER_SEDATION, _bearer, _check

PASSWORD = "correct horse battery"


@pytest.fixture
def people(app, auth_headers) -> dict[str, dict[str, str]]:
    """Bearer headers: pat.pharmacist (auth_headers), rob.pharmacist, ada.admin and two prescribers."""
    return {"pat": auth_headers, "rob": _bearer(app, "rob.pharmacist", "pharmacist"),
            "ada": _bearer(app, "ada.admin", "admin"), "lee": _bearer(app, "dr.lee", "prescriber"),
            "kim": _bearer(app, "dr.kim", "prescriber")}


def _audited(app, action: str) -> list[tuple[str, str]]:
    with app.extensions["store"].engine.connect() as connection:
        rows = connection.execute(select(audit_log.c.user_name, audit_log.c.target)
                                  .where(audit_log.c.action == action).order_by(audit_log.c.id)).all()
    return [tuple(row) for row in rows]


def _codes(client, headers, check_id: str) -> list[str]:
    return [f["code"] for f in client.get(f"/api/v1/checks/{check_id}", headers=headers).get_json()["findings"]]


# ------------------------------------------------------------------------------------------------------ decisions
def test_a_decision_carries_its_intervention_and_the_findings_it_acts_on(client, people):
    made = _check(client, people["lee"], OLDER_CKD)
    renal = next(code for code in _codes(client, people["lee"], made) if code.startswith("renal."))
    answer = client.post(f"/api/v1/reviews/{made}/decision", headers=people["pat"],
                         json={"decision": "changes_requested", "note": "stop ibuprofen", "intervention": "stopped",
                               "findings": [renal]})
    assert answer.status_code == 201
    assert answer.get_json()["intervention"] == "stopped" and answer.get_json()["findings"] == [renal]
    trail = client.get(f"/api/v1/reviews/{made}", headers=people["pat"]).get_json()["decisions"]
    assert trail[-1]["intervention"] == "stopped" and trail[-1]["findings"] == [renal]


@pytest.mark.parametrize("extra, field", [
    ({"findings": ["sedation.opioid_gabapentinoid"]}, "findings"),  # a real code, but not of this check
    ({"findings": "renal.nsaid.avoid"}, "findings"),
    ({"findings": ["x" * 121]}, "findings[0]"),
    ({"intervention": "prayed"}, "intervention"),
])
def test_a_decision_naming_what_its_check_lacks_is_a_400_naming_the_field(client, people, extra, field):
    made = _check(client, people["lee"], OLDER_CKD)
    answer = client.post(f"/api/v1/reviews/{made}/decision", headers=people["pat"],
                         json={"decision": "approved", **extra})
    assert answer.status_code == 400 and field in answer.get_json()["fields"]
    assert client.get(f"/api/v1/reviews/{made}", headers=people["pat"]).get_json()["decisions"] == []


# --------------------------------------------------------------------------------------------------------- claims
def test_a_claim_is_visible_and_only_its_holder_or_an_admin_releases_it(client, app, people):
    made = _check(client, people["lee"], OLDER_CKD)
    first = client.post(f"/api/v1/reviews/{made}/claim", headers=people["pat"])
    assert first.status_code == 200 and first.get_json()["claimedBy"] == "pat.pharmacist"
    assert client.post(f"/api/v1/reviews/{made}/claim", headers=people["pat"]).get_json() == first.get_json()
    taken = client.post(f"/api/v1/reviews/{made}/claim", headers=people["rob"])
    assert taken.status_code == 409 and taken.get_json()["claim"]["claimedBy"] == "pat.pharmacist"
    assert client.delete(f"/api/v1/reviews/{made}/claim", headers=people["rob"]).status_code == 409
    item = client.get("/api/v1/reviews", headers=people["rob"]).get_json()["reviews"][0]
    assert item["claim"]["claimedBy"] == "pat.pharmacist"
    assert client.delete(f"/api/v1/reviews/{made}/claim", headers=people["ada"]).status_code == 204
    assert client.delete(f"/api/v1/reviews/{made}/claim", headers=people["ada"]).status_code == 404
    assert client.post(f"/api/v1/reviews/{made}/claim", headers=people["rob"]).status_code == 200
    assert _audited(app, "claim_review") == [("pat.pharmacist", f"check:{made}"), ("rob.pharmacist", f"check:{made}")]
    assert _audited(app, "release_claim") == [("ada.admin", f"check:{made} held_by:pat.pharmacist")]
    assert client.post(f"/api/v1/reviews/{made}/claim", headers=people["lee"]).status_code == 403


def test_of_two_pharmacists_claiming_the_same_item_at_once_exactly_one_wins(client, app, people):
    store = ReviewStore(app.extensions["store"].engine)
    items = [_check(client, people["lee"], OLDER_CKD) for _ in range(5)]
    for item in items:
        start, won, lost = threading.Barrier(2), [], []

        def claim(name: str) -> None:
            start.wait()  # noqa: B023 - joined before the next item
            try:
                won.append(store.claim(item, name)["claimedBy"])  # noqa: B023 - joined before the next item
            except ClaimTaken as taken:
                lost.append(taken.claim["claimedBy"])  # noqa: B023

        threads = [threading.Thread(target=claim, args=(name,)) for name in ("pat.pharmacist", "rob.pharmacist")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1 and lost == won, (won, lost)
        with app.extensions["store"].engine.connect() as connection:
            holders = connection.execute(select(review_claims.c.claimed_by)
                                         .where(review_claims.c.check_id == item)).scalars().all()
        assert holders == won


# ---------------------------------------------------------------------------------------------------------- queue
def test_the_queue_is_searched_by_patient_and_filtered_by_claim(client, people):
    mine = _check(client, people["lee"], {**OLDER_CKD, "patient": {**OLDER_CKD["patient"], "id": "MRN-1001"}})
    theirs = _check(client, people["lee"], {**OLDER_CKD, "patient": {**OLDER_CKD["patient"], "id": "MRN-2002"}})
    nobodys = _check(client, people["lee"], {**YOUNGER_SEDATION,
                                              "patient": {**YOUNGER_SEDATION["patient"], "id": "MRN-1003"}})
    client.post(f"/api/v1/reviews/{mine}/claim", headers=people["pat"])
    client.post(f"/api/v1/reviews/{theirs}/claim", headers=people["rob"])

    def ids(query: str) -> set[str]:
        answer = client.get(f"/api/v1/reviews?{query}", headers=people["pat"])
        assert answer.status_code == 200, answer.get_json()
        return {item["id"] for item in answer.get_json()["reviews"]}

    assert ids("q=MRN-100") == {mine, nobodys} and ids("q=MRN-2002") == {theirs}
    assert ids("q=MRN_100") == set() and ids("q=%25") == set()  # LIKE wildcards are taken literally
    assert ids("claimed=mine") == {mine} and ids("claimed=unassigned") == {nobodys}
    assert ids("claimed=mine&q=MRN-2") == set()
    assert client.get("/api/v1/reviews?claimed=theirs", headers=people["pat"]).get_json()["fields"]["claimed"]


def test_every_warning_and_critical_is_listed_with_the_time_waited(client, people):
    made = _check(client, people["lee"], OLDER_CKD)
    item = client.get("/api/v1/reviews", headers=people["pat"]).get_json()["reviews"][0]
    stored = client.get(f"/api/v1/checks/{made}", headers=people["pat"]).get_json()["findings"]
    assert [f["code"] for f in item["findings"]] == [f["code"] for f in stored if f["severity"] != "info"]
    assert len(item["findings"]) > 1 and 0 <= item["waitingSeconds"] < 120


def test_the_queue_page_searches_claims_and_lists_every_finding(client, app, people):
    accounts.add_user(app.extensions["store"], "pat.web", "pharmacist", PASSWORD)
    made = _check(client, people["lee"], {**OLDER_CKD, "patient": {**OLDER_CKD["patient"], "id": "MRN-77"}})
    sign_in(client, "pat.web")
    page = client.get("/reviews?q=MRN-77").get_data(as_text=True)
    assert f"/checks/{made}" in page and page.count('class="badge sev-') >= 2
    assert f"/checks/{made}" not in client.get("/reviews?q=MRN-78").get_data(as_text=True)
    claimed = client.post(f"/reviews/{made}/claim", data={"action": "claim", "next": "/reviews?claimed=mine",
                                                          "csrf_token": _csrf(page)})
    assert claimed.status_code == 303 and claimed.headers["Location"] == "/reviews?claimed=mine"
    mine = client.get("/reviews?claimed=mine").get_data(as_text=True)
    assert f"/checks/{made}" in mine and "Claimed: this item is yours" in mine
    assert f"/checks/{made}" not in client.get("/reviews?claimed=unassigned").get_data(as_text=True)
    assert client.get("/reviews?claimed=everyone").status_code == 400
    outside = client.post(f"/reviews/{made}/claim", data={"action": "claim", "next": "//evil.example",
                                                          "csrf_token": _csrf(page)})
    assert outside.headers["Location"] == f"/checks/{made}"  # never off the site


# --------------------------------------------------------------------------------------------------------- export
def test_decisions_export_as_csv_with_formulas_defused(client, app, people):
    made = _check(client, people["lee"], OLDER_CKD)
    codes = _codes(client, people["lee"], made)
    client.post(f"/api/v1/reviews/{made}/decision", headers=people["pat"], json={"decision": "approved"})
    client.post(f"/api/v1/reviews/{made}/decision", headers=people["pat"],
                json={"decision": "rejected", "note": '=HYPERLINK("http://evil.example","x")',
                      "intervention": "substituted", "findings": codes[:2]})
    answer = client.get("/api/v1/reviews/decisions.csv", headers=people["ada"])
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [(r["decision"], r["in_force"]) for r in rows] == [("approved", "no"), ("rejected", "yes")]
    last = rows[-1]
    assert last["note"] == "'" + '=HYPERLINK("http://evil.example","x")'
    assert last["intervention"] == "substituted" and last["findings"] == "; ".join(sorted(codes[:2]))
    assert last["check_id"] == made and last["decided_by"] == "pat.pharmacist" and last["requester"] == "dr.lee"
    assert _audited(app, "export_decisions") == [("ada.admin", "api")]
    assert client.get("/api/v1/reviews/decisions.csv", headers=people["lee"]).status_code == 403


@pytest.mark.parametrize("text, cell", [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                                        ("\tx", "'\tx"), ("plain -1", "plain -1"), (None, "")])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(text, cell):
    from web.reviews import csv_cell

    assert csv_cell(text) == cell


# ------------------------------------------------------------------------------------------------------ my checks
def test_a_prescriber_reads_the_decision_on_their_own_checks_and_nobody_elses(client, people):
    reviewed = _check(client, people["lee"], OLDER_CKD)
    clean = _check(client, people["lee"], {"patient": {"age": 40},
                                           "regimen": [{"drug": "acetaminophen", "dose": {"value": 500, "unit": "mg"},
                                                        "frequency": "TID"}]})
    other = _check(client, people["kim"], OLDER_CKD)
    client.post(f"/api/v1/reviews/{reviewed}/decision", headers=people["pat"],
                json={"decision": "changes_requested", "note": "acetaminophen 650 mg q6h instead",
                      "intervention": "substituted"})
    client.post(f"/api/v1/reviews/{other}/claim", headers=people["pat"])
    mine = client.get("/api/v1/my/checks", headers=people["lee"]).get_json()
    assert [c["id"] for c in mine["checks"]] == [clean, reviewed]  # newest first; dr.kim's is not there
    by_id = {c["id"]: c for c in mine["checks"]}
    assert by_id[clean]["review"] == "not_needed" and by_id[clean]["decision"] is None
    assert by_id[reviewed]["review"] == "decided"
    assert by_id[reviewed]["decision"]["note"] == "acetaminophen 650 mg q6h instead"
    assert by_id[reviewed]["decision"]["intervention"] == "substituted"
    theirs = client.get("/api/v1/my/checks", headers=people["kim"]).get_json()["checks"]
    assert [(c["id"], c["review"], c["claim"]["claimedBy"]) for c in theirs] == [(other, "open", "pat.pharmacist")]
    paged = client.get("/api/v1/my/checks?limit=1", headers=people["lee"]).get_json()
    assert [c["id"] for c in paged["checks"]] == [clean] and paged["nextOffset"] == 1
    assert client.get("/api/v1/my/checks?limit=0", headers=people["lee"]).status_code == 400


def test_my_checks_page_shows_the_pharmacists_note_and_the_check_shows_it_first(client, app, people):
    accounts.add_user(app.extensions["store"], "dr.web", "prescriber", PASSWORD)
    sign_in(client, "dr.web")
    token = _csrf(client.get("/").get_data(as_text=True))
    check_url = client.post("/", data={**OLDER_CKD_FORM, "csrf_token": token}).headers["Location"]
    check_id = check_url.rsplit("/", 1)[1]
    waiting = client.get("/my/checks").get_data(as_text=True)
    assert check_url in waiting and "waiting" in waiting and 'href="/my/checks"' in waiting
    renal = next(code for code in _codes(client, people["pat"], check_id) if code.startswith("renal."))
    client.post(f"/api/v1/reviews/{check_id}/decision", headers=people["pat"],
                json={"decision": "changes_requested", "note": "Stop ibuprofen <now>", "intervention": "stopped",
                      "findings": [renal]})
    listed = client.get("/my/checks").get_data(as_text=True)
    assert "Stop ibuprofen &lt;now&gt;" in listed and "changes requested" in listed
    page = client.get(check_url).get_data(as_text=True)
    note = page.index('id="decision-note-heading"')
    assert note < page.index('id="findings-heading"') and page.index("Stop ibuprofen &lt;now&gt;") > note
    assert f"<code>{renal}</code>" in page[note:page.index('id="findings-heading"')]


def test_the_decision_form_records_the_intervention_and_named_findings(client, app, people):
    accounts.add_user(app.extensions["store"], "pat.web", "pharmacist", PASSWORD)
    made = _check(client, people["lee"], OLDER_CKD)
    codes = _codes(client, people["lee"], made)
    sign_in(client, "pat.web")
    page = client.get(f"/checks/{made}").get_data(as_text=True)
    assert 'name="intervention"' in page and all(f'value="{code}"' in page for code in codes)
    refused = client.post(f"/checks/{made}/decision", data={"decision": "approved", "findings": ["nope.code"],
                                                           "csrf_token": _csrf(page)})
    assert refused.status_code == 400 and 'id="findings-error"' in refused.get_data(as_text=True)
    done = client.post(f"/checks/{made}/decision", data={"decision": "changes_requested", "note": "halve it",
                                                        "intervention": "dose_changed", "findings": codes[:1],
                                                        "csrf_token": _csrf(page)})
    assert done.status_code == 303
    decision = client.get(f"/api/v1/reviews/{made}", headers=people["pat"]).get_json()["decisions"][-1]
    assert (decision["intervention"], decision["findings"], decision["decidedBy"]) == ("dose_changed", codes[:1],
                                                                                       "pat.web")


# ---------------------------------------------------------------------------------------------------------- rules
def test_acted_on_credits_only_the_findings_a_decision_names(client, app, people):
    named, unnamed, approved = (_check(client, people["lee"], OLDER_CKD) for _ in range(3))
    codes = _codes(client, people["lee"], named)
    renal = next(code for code in codes if code.startswith("renal."))
    other = next(code for code in codes if code != renal)
    client.post(f"/api/v1/reviews/{named}/decision", headers=people["pat"],
                json={"decision": "changes_requested", "note": "no NSAID", "intervention": "stopped",
                      "findings": [renal]})
    client.post(f"/api/v1/reviews/{unnamed}/decision", headers=people["pat"],
                json={"decision": "rejected", "note": "no"})
    client.post(f"/api/v1/reviews/{approved}/decision", headers=people["pat"],
                json={"decision": "approved", "intervention": "no_change", "findings": [other]})
    stats = {entry["code"]: entry for entry in ReviewStore(app.extensions["store"].engine).rule_statistics()}
    assert stats[renal]["actedOnByDecision"] == 1 and stats[renal]["unattributedDecisions"] == 1
    assert stats[other]["actedOnByDecision"] == 0 and stats[other]["unattributedDecisions"] == 1
    assert stats[renal]["actedOn"] == stats[renal]["accepted"] + 1


# ------------------------------------------------------------------------------------------------------ migration
def test_migration_0010_goes_down_and_up_again(database_url, settings):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect

    from adapters.storage import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    engine = create_engine(database_url)
    try:
        command.downgrade(config, "0009")
        assert "review_claims" not in inspect(engine).get_table_names()
        assert "intervention" not in {c["name"] for c in inspect(engine).get_columns("review_decisions")}
        command.upgrade(config, "head")
        tables = set(inspect(engine).get_table_names())
        assert {"review_claims", "review_decision_findings", "webhook_outbox"} <= tables
    finally:
        engine.dispose()
