"""Reminders over HTTP and the nightly sweep, on SQLite and PostgreSQL: scheduled once, completed with an
outcome that later checks use, delivered once by concurrent sweepers, and never lost by a killed one."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from sqlalchemy import func, select

from adapters.reviews import audit_log
from adapters.storage import SqlStore, make_engine, patient_outcomes, reminders
from stewardship import accounts
from stewardship.services import ReminderAlreadyCompleted

START = "2026-01-05"


def check_body(as_of: str, regimen_start: str | None = START, patient_id: str | None = "ehr-77") -> dict:
    line = {"drug": "gabapentin", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID"}
    if regimen_start:
        line["startDate"] = regimen_start
    patient = {"age": 55, "crcl": {"value": 90, "unit": "mL/min"}}
    if patient_id:
        patient["id"] = patient_id
    return {"patient": patient, "regimen": [line], "asOf": as_of}


def _count(app) -> int:
    with app.extensions["store"].engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(reminders)).scalar()


def test_a_check_that_starts_gabapentin_returns_its_reminders(client, auth_headers, app):
    body = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    assert {(r["kind"], r["due"]) for r in body["reminders"]} == {("review", "2026-02-02"),
                                                                   ("stop_or_taper", "2026-02-16")}
    assert all(r["id"] and r["message"] and r["drug"] == "gabapentin" for r in body["reminders"])
    stored = client.get(f"/api/v1/checks/{body['id']}", headers=auth_headers).get_json()
    assert stored["reminders"] == body["reminders"]


def test_the_same_patient_drug_and_start_never_duplicate_reminders(client, auth_headers, app):
    first = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    again = client.post("/api/v1/checks", json=check_body("2026-01-10"), headers=auth_headers).get_json()
    assert [r["id"] for r in first["reminders"]] == [r["id"] for r in again["reminders"]]
    assert _count(app) == 2


def test_due_reminders_are_listed_by_date(client, auth_headers):
    client.post("/api/v1/checks", json=check_body(START), headers=auth_headers)
    early = client.get("/api/v1/reminders?status=due&before=2026-02-01", headers=auth_headers).get_json()
    later = client.get("/api/v1/reminders?status=due&before=2026-02-02", headers=auth_headers).get_json()
    assert early["reminders"] == []
    assert [r["kind"] for r in later["reminders"]] == ["review"]
    bad = client.get("/api/v1/reminders?before=soon", headers=auth_headers)
    assert bad.status_code == 400 and "before" in bad.get_json()["fields"]


def test_completing_a_review_with_benefit_silences_the_rule_at_later_checks(client, auth_headers):
    made = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    review = next(r for r in made["reminders"] if r["kind"] == "review")
    late = client.post("/api/v1/checks", json=check_body("2026-02-20"), headers=auth_headers).get_json()
    assert any(f["code"] == "stopping_rule.no_benefit" for f in late["findings"])
    done = client.post(f"/api/v1/reminders/{review['id']}/complete", headers=auth_headers,
                       json={"benefit": True, "note": "sleeps through the night", "date": "2026-02-03"})
    assert done.status_code == 200 and done.get_json()["status"] == "completed"
    after = client.post("/api/v1/checks", json=check_body("2026-02-20"), headers=auth_headers).get_json()
    assert not [f for f in after["findings"] if f["category"] == "stopping_rule"]
    due = client.get("/api/v1/reminders?status=due&before=2026-03-01", headers=auth_headers).get_json()
    assert [r["kind"] for r in due["reminders"]] == ["stop_or_taper"]


def test_an_outcome_recorded_late_answers_the_review_it_was_asked_for(client, auth_headers):
    # completed today (2026-11-27 or later) without a date: it counts from the reminder's due date, not from today
    made = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    review = next(r for r in made["reminders"] if r["kind"] == "review")
    client.post(f"/api/v1/reminders/{review['id']}/complete", headers=auth_headers, json={"benefit": True})
    after = client.post("/api/v1/checks", json=check_body("2026-02-20"), headers=auth_headers).get_json()
    assert not [f for f in after["findings"] if f["category"] == "stopping_rule"]


def test_a_completed_reminder_keeps_its_answer(client, auth_headers):
    made = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    url = f"/api/v1/reminders/{made['reminders'][0]['id']}/complete"
    assert client.post(url, json={"benefit": False}, headers=auth_headers).status_code == 200
    assert client.post(url, json={"benefit": False}, headers=auth_headers).status_code == 200  # a retry: no-op
    flipped = client.post(url, json={"benefit": True}, headers=auth_headers)
    assert flipped.status_code == 409 and "benefit" in flipped.get_json()["fields"]


def test_a_neuropathic_agent_on_the_medication_list_is_held_to_its_stopping_rule(client, auth_headers):
    # contract 2.3: "still taken past its decision point without a documented benefit" - ordered or not
    body = {"patient": {"id": "ehr-88", "age": 55, "crcl": {"value": 90, "unit": "mL/min"},
                        "medications": [{"drug": "gabapentin", "dose": {"value": 600, "unit": "mg"},
                                         "frequency": "TID", "startDate": START}]},
            "regimen": [{"drug": "acetaminophen", "dose": {"value": 500, "unit": "mg"}, "frequency": "TID"}],
            "asOf": "2026-02-17"}
    made = client.post("/api/v1/checks", json=body, headers=auth_headers).get_json()
    found = {f["code"]: f["severity"] for f in made["findings"]}
    assert found.get("stopping_rule.no_benefit") == "critical"
    assert {r["kind"] for r in made["reminders"]} == {"review", "stop_or_taper"}
    # taken for years (past decision + re-review): an established treatment, not a trial to stop
    body["patient"]["medications"][0]["startDate"] = "2023-06-01"
    body["patient"]["id"] = "ehr-89"
    years = client.post("/api/v1/checks", json=body, headers=auth_headers).get_json()
    assert not [f for f in years["findings"] if f["category"] == "stopping_rule"] and years["reminders"] == []


def test_completing_needs_a_benefit_and_an_existing_reminder(client, auth_headers):
    made = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    reminder = made["reminders"][0]["id"]
    bad = client.post(f"/api/v1/reminders/{reminder}/complete", json={"note": "?"}, headers=auth_headers)
    assert bad.status_code == 400 and "benefit" in bad.get_json()["fields"]
    vague = client.post(f"/api/v1/reminders/{reminder}/complete", json={"benefit": "yes"}, headers=auth_headers)
    assert vague.status_code == 400 and "benefit" in vague.get_json()["fields"]
    assert client.post(f"/api/v1/reminders/{uuid.uuid4()}/complete", json={"benefit": False},
                       headers=auth_headers).status_code == 404


def test_a_check_without_a_patient_id_schedules_nothing(client, auth_headers, app):
    body = client.post("/api/v1/checks", json=check_body(START, patient_id=None), headers=auth_headers).get_json()
    assert body["reminders"] == [] and _count(app) == 0
    assert any(f["code"] == "stopping_rule.no_patient_id" for f in body["findings"])


# ------------------------------------------------------------------------------- whose reminders (issue 13, item 4)
def _bearer(app, name: str, role: str) -> dict[str, str]:
    store = app.extensions["store"]
    accounts.add_user(store, name, role, "correct horse battery")
    return {"Authorization": f"Bearer {accounts.create_token(store, name)}"}


def test_a_prescriber_lists_only_the_reminders_their_own_checks_scheduled(client, app):
    lee, kim = _bearer(app, "dr.lee", "prescriber"), _bearer(app, "dr.kim", "prescriber")
    client.post("/api/v1/checks", json=check_body(START, patient_id="lee-1"), headers=lee)
    client.post("/api/v1/checks", json=check_body(START, patient_id="kim-1"), headers=kim)
    # dr.kim checks dr.lee's patient again: the course's reminders stay those of the check that scheduled them
    client.post("/api/v1/checks", json=check_body("2026-01-10", patient_id="lee-1"), headers=kim)

    def patients(headers: dict[str, str]) -> set[str]:
        listed = client.get("/api/v1/reminders?status=all", headers=headers).get_json()["reminders"]
        return {reminder["patientId"] for reminder in listed}
    assert patients(lee) == {"lee-1"} and patients(kim) == {"kim-1"}
    assert patients(_bearer(app, "pat.pharmacist", "pharmacist")) == {"lee-1", "kim-1"}
    assert patients(_bearer(app, "ada.admin", "admin")) == {"lee-1", "kim-1"}


def test_a_prescriber_cannot_complete_another_prescribers_reminder_nor_silence_its_rule(client, app):
    lee, kim = _bearer(app, "dr.lee", "prescriber"), _bearer(app, "dr.kim", "prescriber")
    made = client.post("/api/v1/checks", json=check_body(START), headers=lee).get_json()
    decision = next(r for r in made["reminders"] if r["kind"] == "stop_or_taper")
    theirs = client.post(f"/api/v1/reminders/{decision['id']}/complete", json={"benefit": True}, headers=kim)
    unknown = client.post(f"/api/v1/reminders/{uuid.uuid4()}/complete", json={"benefit": True}, headers=kim)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json()["error"] == unknown.get_json()["error"] == "not_found"
    late = client.post("/api/v1/checks", json=check_body("2026-02-20"), headers=lee).get_json()
    assert any(f["code"] == "stopping_rule.no_benefit" for f in late["findings"])  # still raised
    assert client.post(f"/api/v1/reminders/{decision['id']}/complete", json={"benefit": True},
                       headers=_bearer(app, "pat.pharmacist", "pharmacist")).status_code == 200


def test_reminder_lists_and_completions_are_in_the_audit_log(client, app, auth_headers):
    made = client.post("/api/v1/checks", json=check_body(START), headers=auth_headers).get_json()
    client.get("/api/v1/reminders?status=due&before=2026-03-01", headers=auth_headers)
    client.post(f"/api/v1/reminders/{made['reminders'][0]['id']}/complete", json={"benefit": False},
                headers=auth_headers)
    with app.extensions["store"].engine.connect() as connection:
        audited = [tuple(row) for row in connection.execute(
            select(audit_log.c.user_name, audit_log.c.action, audit_log.c.target)
            .where(audit_log.c.action.in_(("view_reminders", "complete_reminder"))).order_by(audit_log.c.id))]
    assert audited == [("pat.pharmacist", "view_reminders", "api:status=due before=2026-03-01"),
                       ("pat.pharmacist", "complete_reminder",
                        f"api:reminder:{made['reminders'][0]['id']}:benefit=false")]


def test_concurrent_completions_of_one_reminder_record_one_outcome(client, auth_headers, settings):
    """Issue 13, item 12: two people answering the same reminder at once, with opposite answers. One answer is
    recorded; the other caller is told it conflicts (or, with the same answer, gets the recorded one)."""
    _schedule(client, auth_headers, 4)
    engine = make_engine(settings.database_url)
    ids = [r["id"] for r in SqlStore(engine).reminders_due(dt.date(2026, 3, 1), "all")]
    results: dict[str, list[object]] = {reminder: [] for reminder in ids}
    lock = threading.Lock()

    def answer(reminder: str, benefit: bool, barrier: threading.Barrier) -> None:
        own = make_engine(settings.database_url)  # its own connections, as another worker would have
        try:
            store = SqlStore(own)
            barrier.wait()
            try:
                outcome: object = store.complete_reminder(reminder, benefit, None, None, None, None, "someone")
            except ReminderAlreadyCompleted as error:
                outcome = error
            with lock:
                results[reminder].append((benefit, outcome))
        finally:
            own.dispose()

    for reminder in ids:
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=answer, args=(reminder, index % 2 == 0, barrier)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with engine.connect() as connection:
        recorded = dict(connection.execute(select(patient_outcomes.c.reminder_id, func.count())
                                           .group_by(patient_outcomes.c.reminder_id)).all())
        benefit_of = dict(connection.execute(select(patient_outcomes.c.reminder_id, patient_outcomes.c.benefit)).all())
    engine.dispose()
    assert recorded == {reminder: 1 for reminder in ids}
    for reminder, answers in results.items():
        for benefit, outcome in answers:  # whoever gave the other answer was refused, never recorded
            assert isinstance(outcome, ReminderAlreadyCompleted) == (benefit != benefit_of[reminder])


# ------------------------------------------------------------------------------------------------- the sweep
def _schedule(client, auth_headers, patients: int) -> None:
    for index in range(patients):
        client.post("/api/v1/checks", json=check_body(START, patient_id=f"sweep-{index}"), headers=auth_headers)


def test_the_sweep_delivers_each_due_reminder_once(client, auth_headers, app):
    _schedule(client, auth_headers, 3)
    store = app.extensions["store"]
    delivered: list[str] = []
    assert store.deliver_due(dt.date(2026, 3, 1), lambda r: delivered.append(r["id"])) == 6
    assert store.deliver_due(dt.date(2026, 3, 1), lambda r: delivered.append(r["id"])) == 0
    assert len(delivered) == len(set(delivered)) == 6


def test_two_concurrent_sweepers_deliver_each_reminder_exactly_once(client, auth_headers, settings):
    _schedule(client, auth_headers, 15)
    delivered: list[tuple[str, str]] = []
    lock = threading.Lock()

    def sweeper(name: str) -> None:
        engine = make_engine(settings.database_url)  # its own connections, as on a second machine
        try:
            def deliver(reminder: dict) -> None:
                time.sleep(0.01)  # let the other sweeper try the same rows meanwhile
                with lock:
                    delivered.append((name, reminder["id"]))
            SqlStore(engine).deliver_due(dt.date(2026, 3, 1), deliver)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=sweeper, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [reminder for _, reminder in delivered]
    assert len(ids) == 30 and len(set(ids)) == 30
    if settings.database_url.startswith("postgresql"):
        assert {name for name, _ in delivered} == {"a", "b"}  # SKIP LOCKED: both worked, neither waited


def test_a_sweeper_that_fails_mid_way_loses_nothing(client, auth_headers, app):
    _schedule(client, auth_headers, 3)
    store = app.extensions["store"]
    seen: list[str] = []

    def crash_on_third(reminder: dict) -> None:
        seen.append(reminder["id"])
        if len(seen) == 3:
            raise RuntimeError("sweeper died")

    with pytest.raises(RuntimeError):
        store.deliver_due(dt.date(2026, 3, 1), crash_on_third)
    rest: list[str] = []
    store.deliver_due(dt.date(2026, 3, 1), lambda r: rest.append(r["id"]))
    assert seen[2] in rest  # the one in flight is delivered again, not lost
    assert set(seen[:2]) | set(rest) == {r["id"] for r in store.reminders_due(dt.date(2026, 3, 1), "delivered")}
    assert len(set(seen[:2]) | set(rest)) == 6


def test_a_killed_sweeper_process_loses_nothing(client, auth_headers, app, settings, tmp_path):
    _schedule(client, auth_headers, 3)
    log = tmp_path / "delivered.txt"
    script = textwrap.dedent(f"""
        import datetime as dt, time
        from adapters.storage import SqlStore, make_engine
        def deliver(reminder):
            with open({str(log)!r}, "a") as out:
                out.write(reminder["id"] + "\\n")
            if sum(1 for _ in open({str(log)!r})) == 2:
                time.sleep(60)  # killed here, inside its transaction
        SqlStore(make_engine({settings.database_url!r})).deliver_due(dt.date(2026, 3, 1), deliver)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    try:
        for _ in range(200):
            if log.exists() and len(log.read_text().split()) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the sweeper never got going")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    in_flight = log.read_text().split()[1]
    rest: list[str] = []
    app.extensions["store"].deliver_due(dt.date(2026, 3, 1), lambda r: rest.append(r["id"]))
    assert in_flight in rest
    assert len(set(log.read_text().split()) | set(rest)) == 6


def test_the_nightly_command_prints_due_reminders_once(client, auth_headers, settings, monkeypatch):
    from click.testing import CliRunner

    import cli

    _schedule(client, auth_headers, 2)
    monkeypatch.setenv("STEWARDSHIP_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    first = runner.invoke(cli.main, ["reminders", "due", "--before", "2026-03-01", "--json"])
    assert first.exit_code == 0, first.output
    lines = [line for line in first.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 4
    second = runner.invoke(cli.main, ["reminders", "due", "--before", "2026-03-01", "--json"])
    assert [line for line in second.stdout.splitlines() if line.startswith("{")] == []
