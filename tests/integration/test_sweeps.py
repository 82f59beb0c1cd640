"""Population sweeps (issue 16) over a FHIR Bulk Data export, on SQLite and PostgreSQL: a patient's resources are
found across files of any name, only current medications are reviewed, a re-run or an interrupted run stores no
second check, malformed lines are reported where they are and cost no other patient, and a Dask cluster of real
processes on 127.0.0.1 finds exactly what the local run finds.

The export is the Synthea sample (tests/fixtures/synthea-10-patients, Apache-2.0), whole or cloned with new ids
(tests/population.py). Patient c34852c9 (born 1926, CrCl about 12 mL/min, on warfarin) has a *stopped* naproxen
order: re-expressed as a pharmacy dispense, it is current while its days' supply lasts and only then flagged."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, text

from adapters.bulk_export import MedicationLookup, export_files, group, partition, sweep_key
from adapters.population_sweep import SweepRefused, run_sweep
from adapters.storage import _aware, checks, make_engine, upgrade
from adapters.sweeps import SweepStore, sweep_patients, sweeps
from settings import Settings
from stewardship import accounts
from tests.conftest import POSTGRES_URL
from tests.integration.test_pages import PASSWORD, _csrf, sign_in
from tests.population import SAMPLES, clone_export

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 12, 1)
NAPROXEN_PATIENT = "c34852c9-ffba-4bda-890a-eef4bc683e42"


def sample_export(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in SAMPLES.glob("*.ndjson"):
        shutil.copy(path, folder / path.name)
    return folder


def sweep(database_url: str, folder: Path, out: Path, workers: int = 0, scheduler: str | None = None,
          as_of: dt.date = AS_OF, hold_seconds: int = 300):
    reported: list[str] = []
    settings = Settings(database_url=database_url, testing=True, sweep_hold_seconds=hold_seconds)
    summary = run_sweep(folder, as_of, settings, out, workers, scheduler, reported.append)
    return summary, reported


def hold_sweep(database_url: str, folder: Path, hold: dt.timedelta, as_of: dt.date = AS_OF) -> tuple[int, int]:
    """Begin a run of the sweep of `folder` as `stewardship sweep` does, and leave it holding the sweep (a run
    under way in another process, or one that died): (sweep id, run)."""
    key, export = sweep_key(folder, export_files(folder), as_of.isoformat())
    engine = make_engine(database_url)
    try:
        return SweepStore(engine).begin(key, as_of, export, hold)
    finally:
        engine.dispose()


def sweep_row(database_url: str) -> dict:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(select(sweeps)).mappings().one())
    finally:
        engine.dispose()


def worklist(summary) -> list[dict]:
    return json.loads(summary.worklist[1].read_text())["worklist"]


def stored_checks(database_url: str) -> list[tuple[str, str]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(
                select(checks.c.patient_ref, checks.c.source).order_by(checks.c.patient_ref))]
    finally:
        engine.dispose()


def stored_responses(database_url: str, *where) -> list[dict]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(checks.c.response).where(*where)).scalars())
    finally:
        engine.dispose()


def naproxen_dispense(handed_over: dt.date, patient: str = NAPROXEN_PATIENT) -> dict:
    """The Synthea naproxen 220 mg order of patient c34852c9 as the dispense a pharmacy records: 30 days' supply."""
    with (SAMPLES / "MedicationRequest.ndjson").open(encoding="utf-8") as lines:
        order = next(r for r in map(json.loads, lines) if r["subject"]["reference"] == f"Patient/{NAPROXEN_PATIENT}"
                     and r["medicationCodeableConcept"]["coding"][0]["code"] == "849574")
    assert order["status"] == "stopped"
    return {"resourceType": "MedicationDispense", "id": "md-naproxen", "status": "completed",
            "medicationCodeableConcept": order["medicationCodeableConcept"],
            "subject": {"reference": f"Patient/{patient}"},
            "authorizingPrescription": [{"reference": f"MedicationRequest/{order['id']}"}],
            "quantity": {"value": 60, "unit": "tablet"},
            "daysSupply": {"value": 30, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
            "whenHandedOver": handed_over.isoformat()}


def write_lines(path: Path, lines: list) -> None:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


@pytest.fixture
def url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


# -------------------------------------------------------------------------------------------- reading the export
def test_a_patients_resources_are_grouped_across_files_of_any_name(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01", "gender": "female"}
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "naproxen 250 mg tablet"}}
    order = {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
             "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}}
    condition = {"resourceType": "Condition", "id": "c1", "code": {"text": "gout"},
                 "subject": {"reference": "https://ehr.example/fhir/Patient/p1"}}
    other = {"resourceType": "Patient", "id": "p2"}
    write_lines(export / "one.ndjson", [order, other])
    write_lines(export / "2.ndjson", [medication, condition, patient])
    (export / "README.md").write_text("not part of the export\n")

    problems: list = []
    done = partition(sorted(export.glob("*.ndjson")), tmp_path, 3, problems.append)
    found = {p.patient_id: p for path in done.paths for p in group(path)}

    assert problems == [] and set(found) == {"p1", "p2"}
    assert [r.where for r in found["p1"].of("Patient", "Condition", "MedicationRequest")] == \
        ["2.ndjson:3", "2.ndjson:2", "one.ndjson:1"]
    with MedicationLookup(done.medications) as lookup:
        assert lookup.get(["Medication/m1", "Medication/m2"]) == {"Medication/m1": medication}


def test_a_patients_medication_referenced_by_id_is_read_from_the_export(url, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    write_lines(export / "Patient.ndjson", [{"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01",
                                             "gender": "female"}])
    write_lines(export / "Medication.ndjson", [{"resourceType": "Medication", "id": "m1",
                                                "code": {"text": "naproxen 250 mg tablet"}}])
    write_lines(export / "MedicationRequest.ndjson", [{
        "resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}}])

    summary, _ = sweep(url, export, tmp_path / "w")

    check = stored_responses(url)[0]
    assert [i["name"] for line in check["resolved"] for i in line["ingredients"]] == ["naproxen"]
    assert summary.checked == 1


# ----------------------------------------------------------------------------------- current medications only
def test_a_sweep_reviews_only_current_medications(url, tmp_path):
    export = sample_export(tmp_path / "export")
    summary, reported = sweep(url, export, tmp_path / "w")

    response = stored_responses(url, checks.c.patient_ref == NAPROXEN_PATIENT)[0]
    names = {i["name"] for line in response["resolved"] for i in line["ingredients"]}
    assert "warfarin" in names and "naproxen" not in names  # her naproxen order was stopped
    assert not any("naproxen" in finding["drugs"] for finding in response["findings"])
    assert reported == [] and summary.patients == summary.checked == 10


@pytest.mark.parametrize("days_before, flagged", [(10, True), (45, False)])
def test_a_dispensed_nsaid_is_current_while_its_supply_lasts(url, tmp_path, days_before, flagged):
    export = sample_export(tmp_path / "export")
    write_lines(export / "dispenses.ndjson", [naproxen_dispense(AS_OF - dt.timedelta(days=days_before))])

    summary, _ = sweep(url, export, tmp_path / "w")

    row = next(r for r in worklist(summary) if r["patient_id"] == NAPROXEN_PATIENT)
    response = stored_responses(url, checks.c.id == row["check_id"])[0]
    naproxen = {f["code"] for f in response["findings"] if "naproxen" in f["drugs"] and f["severity"] != "info"}
    assert bool(naproxen) is flagged
    if flagged:  # with warfarin, at CrCl about 12 mL/min: bleeding and kidney findings, the worklist's top
        assert row["severity"] in ("critical", "warning") and any(c.startswith("bleeding") for c in naproxen)
        assert worklist(summary)[0]["patient_id"] == NAPROXEN_PATIENT


# ------------------------------------------------------------------------------------------------- idempotence
def test_a_re_run_stores_no_second_check_and_says_so(url, tmp_path):
    export = sample_export(tmp_path / "export")
    first, _ = sweep(url, export, tmp_path / "first")
    again, _ = sweep(url, export, tmp_path / "again")

    assert (first.checked, first.already) == (10, 0)
    assert (again.sweep_id, again.patients, again.checked, again.already) == (first.sweep_id, 10, 0, 10)
    assert len(stored_checks(url)) == 10 and {source for _, source in stored_checks(url)} == {"sweep"}
    assert worklist(again) == worklist(first) and again.flagged == first.flagged
    later, _ = sweep(url, export, tmp_path / "later", as_of=AS_OF + dt.timedelta(days=1))
    assert later.sweep_id != first.sweep_id and later.checked == 10  # another day is another sweep


def test_a_check_stored_by_a_run_killed_before_its_record_is_adopted_not_repeated(url, tmp_path):
    export = sample_export(tmp_path / "export")
    first, _ = sweep(url, export, tmp_path / "first")
    engine = make_engine(url)
    with engine.begin() as connection:  # as if the run had died between storing the check and its record
        connection.execute(sweep_patients.delete().where(sweep_patients.c.patient_ref == NAPROXEN_PATIENT))

    again, _ = sweep(url, export, tmp_path / "again")

    assert (again.checked, again.already) == (0, 10)
    assert len(stored_checks(url)) == 10
    assert worklist(again) == worklist(first)
    engine.dispose()


def test_a_second_run_while_one_is_under_way_is_refused_and_checks_nobody(url, tmp_path):
    export = sample_export(tmp_path / "export")
    sweep_id, run = hold_sweep(url, export, dt.timedelta(minutes=5))

    with pytest.raises(SweepRefused, match=rf"another run of sweep {sweep_id} .* is under way: nothing was checked"):
        sweep(url, export, tmp_path / "w")
    done = subprocess.run([sys.executable, "-m", "cli", "sweep", str(export), "--as-of", AS_OF.isoformat(),
                           "--workers", "0", "--out", str(tmp_path / "w")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "STEWARDSHIP_DATABASE_URL": url}, timeout=300)

    assert done.returncode == 1 and "is under way: nothing was checked" in done.stderr
    assert stored_checks(url) == []
    assert (sweep_row(url)["runs"], sweep_row(url)["held_by_run"]) == (run, run)  # refused runs are not counted


def test_a_run_lets_go_of_the_sweep_when_it_ends_finished_or_failed(url, tmp_path):
    export = sample_export(tmp_path / "export")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError):  # the worklist's folder cannot be made: the run fails after taking the sweep
        sweep(url, export, tmp_path / "a-file" / "w")
    assert (sweep_row(url)["held_by_run"], sweep_row(url)["held_until"]) == (None, None)

    summary, _ = sweep(url, export, tmp_path / "w")  # at once, not after the failed run's hold would have lapsed

    assert summary.checked == 10
    assert (sweep_row(url)["runs"], sweep_row(url)["held_by_run"], sweep_row(url)["held_until"]) == (2, None, None)


def test_a_run_that_died_lets_go_of_the_sweep_when_its_hold_lapses(url, tmp_path):
    export = sample_export(tmp_path / "export")
    hold_sweep(url, export, dt.timedelta(seconds=1))  # as if a run had died without letting go
    time.sleep(1.2)

    summary, _ = sweep(url, export, tmp_path / "w")

    assert (summary.checked, sweep_row(url)["runs"]) == (10, 2)


def test_an_interrupted_sweep_completes_on_a_re_run_without_duplicates(url, tmp_path):
    export = clone_export(tmp_path / "export", 300)
    command = [sys.executable, "-m", "cli", "sweep", str(export), "--as-of", AS_OF.isoformat(), "--workers", "1",
               "--out", str(tmp_path / "w")]
    hold_seconds = 5  # renewed every second while the run works; after the kill, it lapses within 5 s
    env = {**os.environ, "STEWARDSHIP_DATABASE_URL": url, "STEWARDSHIP_SWEEP_HOLD_SECONDS": str(hold_seconds)}
    killed = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + 120
        reviewed = 0
        while reviewed < 20 and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with engine.connect() as connection:
                reviewed = connection.execute(select(func.count()).select_from(sweep_patients)).scalar()
        assert killed.poll() is None, "the sweep finished before it could be interrupted"
        os.killpg(killed.pid, signal.SIGKILL)  # the sweep and its worker processes, mid-way
        killed.wait()
        with engine.connect() as connection:
            interrupted = connection.execute(select(func.count()).select_from(sweep_patients)).scalar()
        assert 20 <= interrupted < 300
        with pytest.raises(SweepRefused, match="is under way"):  # the killed run's hold has not lapsed yet
            sweep(url, export, tmp_path / "too-soon", hold_seconds=hold_seconds)
        held_until = _aware(sweep_row(url)["held_until"])  # SQLite hands back naive UTC
        time.sleep(max(0.0, (held_until - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.2)

        finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

        assert finished.returncode == 0, finished.stderr
        last = finished.stdout.strip().splitlines()[-1]
        # a kill between storing a check and its sweep record leaves one check the re-run adopts (never repeats)
        already = int(re.search(r"already: (\d+) patient\(s\)", finished.stdout)[1])
        assert already in (interrupted, interrupted + 1)
        assert last.startswith(f"sweep: patients=300 checked={300 - already} ")
        with engine.connect() as connection:
            per_patient = connection.execute(select(checks.c.patient_ref, func.count()).group_by(
                checks.c.patient_ref)).all()
        assert len(per_patient) == 300 and {count for _, count in per_patient} == {1}
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
        engine.dispose()


# -------------------------------------------------------------------------------------------------- bad input
def test_malformed_lines_and_resources_are_reported_where_they_are_and_cost_no_other_patient(url, tmp_path):
    export = sample_export(tmp_path / "export")
    bad_condition = {"resourceType": "Condition", "id": "bad", "subject": {"reference": f"Patient/{NAPROXEN_PATIENT}"},
                     "code": "gout"}  # code must be a CodeableConcept
    write_lines(export / "extra.ndjson", [
        '{"resourceType": "Patient", "id": ',  # cut off
        "[1, 2, 3]",
        {"resourceType": "Observation", "status": "final", "code": {"text": "creatinine"}},  # whose?
        bad_condition,
        {"resourceType": "Encounter", "id": "e1", "subject": {"reference": f"Patient/{NAPROXEN_PATIENT}"}},
    ])

    summary, reported = sweep(url, export, tmp_path / "w")

    assert summary.patients == summary.checked == 10
    assert summary.unreadable == 4 and summary.not_used == {"Encounter": 1}
    assert [line.split(": ", 1)[0] for line in reported] == ["extra.ndjson:1", "extra.ndjson:2", "extra.ndjson:3",
                                                             "extra.ndjson:4"]
    assert "Condition.code" in reported[3]
    row = next(r for r in worklist(summary) if r["patient_id"] == NAPROXEN_PATIENT)
    assert row["unreadable"] == 1


def test_the_cli_prints_the_summary_last(url, tmp_path):
    export = sample_export(tmp_path / "export")
    (export / "broken.ndjson").write_text("not json\n")
    env = {**os.environ, "STEWARDSHIP_DATABASE_URL": url}
    command = [sys.executable, "-m", "cli", "sweep", str(export), "--as-of", AS_OF.isoformat(), "--workers", "0",
               "--out", str(tmp_path / "w")]

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "unreadable: broken.ndjson:1: not JSON" in done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("sweep: patients=10 checked=10 flagged=") and " unreadable=1 seconds=" in last
    header = (tmp_path / "w.csv").read_text().splitlines()[0]
    assert header == "priority,patient_id,check_id,severity,code,summary,age_years,crcl_ml_min,unreadable"


# ------------------------------------------------------------------------------------------ the queue and pages
def test_flagged_patients_are_in_the_queue_filtered_by_their_sweep(url, tmp_path, client, auth_headers):
    summary, _ = sweep(url, sample_export(tmp_path / "export"), tmp_path / "w")
    client.post("/api/v1/checks", headers=auth_headers, json={  # a check of another origin, flagged too
        "patient": {"id": "elsewhere", "age": 80}, "regimen": [{"drug": "diazepam"}]})

    listed = client.get("/api/v1/sweeps", headers=auth_headers).get_json()["sweeps"]
    queue = client.get(listed[0]["queue"], headers=auth_headers).get_json()["reviews"]
    answered = client.get(listed[0]["worklist"], headers=auth_headers).get_json()

    flagged = [r for r in worklist(summary) if r["severity"] in ("critical", "warning")]
    assert listed[0]["id"] == summary.sweep_id and listed[0]["flagged"] == summary.flagged == len(flagged) > 0
    assert (listed[0]["patients"], listed[0]["checked"]) == (10, 10)
    assert {item["patientId"] for item in queue} == {r["patient_id"] for r in flagged}
    assert all(item["source"] == "sweep" and item["requester"] == f"sweep:{summary.sweep_id}" for item in queue)
    assert answered["worklist"] == worklist(summary)
    assert client.get("/api/v1/sweeps/999/worklist", headers=auth_headers).status_code == 404


# ----------------------------------------------------------------------------------------------- a Dask cluster
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _without_check_ids(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "check_id"} for row in rows]


def test_a_dask_cluster_finds_exactly_what_local_workers_find(url, tmp_path):
    export = clone_export(tmp_path / "export", 40)
    dispense = naproxen_dispense(AS_OF - dt.timedelta(days=3), f"{NAPROXEN_PATIENT}-c0")
    write_lines(export / "dispenses.ndjson", [dispense])
    if url.startswith("sqlite"):  # the workers of a cluster share one database: a file on one machine is refused
        with pytest.raises(SweepRefused, match="PostgreSQL"):
            sweep(url, export, tmp_path / "w", scheduler="tcp://127.0.0.1:1")
        return
    local, _ = sweep(url, export, tmp_path / "local", workers=2)

    schema = f"t_{uuid.uuid4().hex[:12]}"  # the cluster's run gets a database of its own
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    cluster_url = f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    port = _free_port()
    dask = [str(Path(sys.executable).parent / "dask")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                          "--dashboard-address", ":0"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        processes += [subprocess.Popen(dask + ["worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1",
                                               "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for _ in range(2)]
        _wait_for_workers(f"tcp://127.0.0.1:{port}", 2)
        upgrade(cluster_url)
        on_cluster, _ = sweep(cluster_url, export, tmp_path / "cluster", scheduler=f"tcp://127.0.0.1:{port}")

        assert (on_cluster.patients, on_cluster.checked, on_cluster.flagged, on_cluster.unreadable) == \
            (local.patients, local.checked, local.flagged, local.unreadable) == (40, 40, local.flagged, 0)
        assert _without_check_ids(worklist(on_cluster)) == _without_check_ids(worklist(local))
        assert worklist(local)[0]["patient_id"] == f"{NAPROXEN_PATIENT}-c0"  # the dispensed naproxen: most urgent
        assert len(stored_checks(cluster_url)) == 40
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(count, timeout=60)


def test_pharmacists_see_the_sweeps_page_with_each_sweeps_flagged_patients_in_the_queue(url, tmp_path, app, client):
    summary, _ = sweep(url, sample_export(tmp_path / "export"), tmp_path / "w")
    accounts.add_user(app.extensions["store"], "pat.pharmacist", "pharmacist", PASSWORD)
    accounts.add_user(app.extensions["store"], "dr.prescriber", "prescriber", PASSWORD)
    sign_in(client, "dr.prescriber")
    assert client.get("/sweeps").status_code == 403
    client.post("/signout", data={"csrf_token": _csrf(client.get("/").get_data(as_text=True))})
    sign_in(client, "pat.pharmacist")

    page = client.get("/sweeps").get_data(as_text=True)
    queue = client.get(f"/reviews?sweep={summary.sweep_id}").get_data(as_text=True)

    assert f'href="/reviews?sweep={summary.sweep_id}"' in page and f"{summary.flagged} in the queue" in page
    flagged = [r["patient_id"] for r in worklist(summary) if r["severity"] in ("critical", "warning")]
    assert all(patient in queue for patient in flagged)
    assert NAPROXEN_PATIENT not in queue  # reviewed, nothing to act on: not in the queue
    assert client.get("/reviews?sweep=x").status_code == 400


def test_a_sweep_under_way_is_shown_so_not_as_one_to_run_again(url, tmp_path, client, auth_headers):
    export = sample_export(tmp_path / "export")
    sweep_id, run = hold_sweep(url, export, dt.timedelta(minutes=5))  # its first run, under way in another process
    sign_in(client, "pat.pharmacist")  # the pharmacist of `auth_headers`

    listed = client.get("/api/v1/sweeps", headers=auth_headers).get_json()["sweeps"][0]
    page = client.get("/sweeps").get_data(as_text=True)

    assert listed["finishedAt"] is None and listed["runningUntil"] > listed["startedAt"]
    assert "being run now" in page and "run it again" not in page
    engine = make_engine(url)
    SweepStore(engine).let_go(sweep_id, run)  # the run died before its first patient, having let go
    engine.dispose()
    assert client.get("/api/v1/sweeps", headers=auth_headers).get_json()["sweeps"][0]["runningUntil"] is None
    assert "not finished: run it again" in client.get("/sweeps").get_data(as_text=True)
