"""`stewardship sweep`: every patient of a FHIR Bulk Data export reviewed at one as-of date (issue 16).

The export is partitioned by patient on disk (adapters/bulk_export.py); each partition is one Dask task
(`dask.bag`), run on local worker processes (`--workers N`, no server), in this process (`--workers 0`), or on a
Dask cluster (`--scheduler tcp://HOST:PORT`, `dask scheduler` / `dask worker`). A task reads its partition,
groups it by patient and reviews each patient's current medication list with an empty regimen (the list as a
whole) through the same intake and engine as a CDS Hooks call (adapters/fhir_intake.py): every review is stored as
a check with source `sweep`, so flagged ones enter the review queue and stopping-rule reminders are scheduled.
Workers build their own app (engine, knowledge base, database engine) once per process; nothing of it is pickled.

A patient the sweep has already reviewed is skipped (adapters/sweeps.py), so a re-run stores no second check and
an interrupted run completes without duplicates.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dask.bag
from distributed import Client
from sqlalchemy.exc import SQLAlchemyError

from settings import VAR, Settings
from stewardship.review_priority import ReviewPriority
from stewardship.services import check_and_keep

from .bulk_export import (
    PARTITION_BYTES,
    Located,
    MedicationLookup,
    PatientResources,
    Unreadable,
    export_files,
    group,
    partition,
    sweep_key,
)
from .fhir import (
    CREATININE_CODES,
    EGFR_CODES,
    LOINC,
    MEDICATION_MODELS,
    WEIGHT_CODES,
    PatientFacts,
    medication_references,
)
from .fhir_dosage import vocabulary
from .fhir_intake import FhirRecord, check_request
from .storage import make_engine
from .sweeps import WORKLIST_COLUMNS, SweepHeld, SweepStore, requester

OBSERVATION_KINDS = tuple(frozenset(codes) for codes in (CREATININE_CODES, EGFR_CODES, WEIGHT_CODES))
PROBLEMS_PER_PARTITION = 200  # unreadable resources reported back by one task (all are counted)


@dataclasses.dataclass(frozen=True)
class PartitionTask:
    """One Dask task: plain data only (paths, ids, settings), so that any worker process can run it."""
    partition: Path
    medications: Path
    sweep_id: int
    as_of: dt.date
    settings: Settings


@dataclasses.dataclass
class SweepSummary:
    sweep_id: int
    as_of: str
    patients: int = 0  # in the export
    checked: int = 0  # reviewed and stored by this run
    already: int = 0  # reviewed by an earlier run of the same sweep
    flagged: int = 0  # on the sweep's worklist with a warning or critical finding
    unreadable: int = 0  # lines and resources that could not be read
    seconds: float = 0.0
    not_used: dict[str, int] = dataclasses.field(default_factory=dict)
    worklist: tuple[Path, Path] | None = None  # CSV, JSON

    def line(self) -> str:
        return (f"sweep: patients={self.patients} checked={self.checked} flagged={self.flagged} "
                f"unreadable={self.unreadable} seconds={self.seconds:.1f}")


class SweepRefused(ValueError):
    """A sweep that cannot run as asked (a cluster with SQLite, an empty folder)."""


# --------------------------------------------------------------------------------------------- one worker process
_RUNTIMES: dict[str, tuple] = {}
_RUNTIME_LOCK = threading.Lock()


def _runtime(settings: Settings) -> tuple:
    """(check engine, store) of this process, built once from the settings: the app's own wiring, so that the
    engine, knowledge base and rules are exactly those a hook call uses."""
    key = repr(settings)
    with _RUNTIME_LOCK:
        if key not in _RUNTIMES:
            from api import create_app

            app = create_app(settings)
            _RUNTIMES[key] = (app.extensions["engine"], app.extensions["store"])
        return _RUNTIMES[key]


def _forget_runtimes() -> None:
    with _RUNTIME_LOCK:
        for _, store in _RUNTIMES.values():
            store.engine.dispose()
        _RUNTIMES.clear()


def review_partition(task: PartitionTask) -> dict:
    """Review every patient of one partition not yet reviewed by this sweep; the counts and what was unreadable."""
    engine, store = _runtime(task.settings)
    sweeps = SweepStore(store.engine)
    patients = group(task.partition)
    ids = [found.patient_id for found in patients]
    done = sweeps.reviewed(task.sweep_id, ids)
    done |= sweeps.adopt_checks(task.sweep_id, [i for i in ids if i not in done])
    # failed: patients whose data could not be checked at all (no row: a re-run tries them again)
    counts = {"patients": len(ids), "checked": 0, "already": len(done), "failed": 0, "problems": []}
    now = dt.datetime.combine(task.as_of, dt.time.max, tzinfo=dt.timezone.utc)  # current at the end of the day
    with MedicationLookup(task.medications) as lookup:
        for found in patients:
            if found.patient_id in done:
                continue
            problems: list[Unreadable] = []
            try:
                request, request_json = _patient_check(found, lookup, engine.resolver, now, task, problems)
            except Exception as error:  # noqa: BLE001 - one patient's data must never stop the sweep
                problems.append(Unreadable(f"patient {found.patient_id}",
                                           f"not checked: {type(error).__name__}: {error}"))
                request = None
                counts["failed"] += 1
            room = PROBLEMS_PER_PARTITION - len(counts["problems"])
            counts["problems"].extend(str(problem) for problem in problems[:max(room, 0)])
            if request is None:
                continue
            body, _ = check_and_keep(engine, store, request, request_json, requester(task.sweep_id), source="sweep")
            if sweeps.record(task.sweep_id, found.patient_id, body["id"], body, len(problems)):
                counts["checked"] += 1
            else:
                counts["already"] += 1
    return counts


def _patient_check(found: PatientResources, lookup: MedicationLookup, resolver, now: dt.datetime,  # noqa: ANN001
                   task: PartitionTask, problems: list[Unreadable]):  # noqa: ANN202 - (CheckRequest, dict)
    """The patient's check through the hooks' intake, and the request as stored: the resources it was read from.
    What could not be read goes to `problems`, located by file and line."""
    patient = found.of("Patient")[:1]  # a repeated Patient line adds nothing
    conditions = found.of("Condition")
    observations = _latest_of_each_kind(found.of("Observation"))
    medications = [m for m in found.of(*MEDICATION_MODELS) if not _never_current(m.resource)]
    known = lookup.get(medication_references([m.resource for m in medications], {}))
    record = FhirRecord(found.patient_id, patient[0].resource if patient else None,
                        [c.resource for c in conditions], [o.resource for o in observations],
                        [(m.where, m.resource) for m in medications])
    facts = PatientFacts()
    request = check_request(record, known, now, task.as_of, resolver, facts)
    places = {"prefetch.patient": patient[0] if patient else None,
              **{f"conditions[{i}]": c for i, c in enumerate(conditions)},
              **{f"observations[{i}]": o for i, o in enumerate(observations)},
              **{f"prefetch.{m.where}[{m.resource['resourceType']} 0]": m for m in medications},
              **{f"{m.resource['resourceType']}/{m.resource.get('id')}": m for m in medications}}
    problems.extend(_located(message, places, found.patient_id) for message in facts.unreadable)
    used = patient + conditions + observations + medications
    request_json = {"sweep": task.sweep_id, "asOf": task.as_of.isoformat(), "patientId": found.patient_id,
                    "unreadable": [str(problem) for problem in problems],
                    "resources": [{"source": r.where, "resource": r.resource} for r in used]
                    + [{"source": ref, "resource": resource} for ref, resource in known.items()]}
    return request, request_json


def _latest_of_each_kind(observations: list[Located]) -> list[Located]:
    """The latest creatinine, eGFR and body weight (by effective date), as a hook's prefetch asks for them
    (config/cds_hooks.yaml: `_sort=-date&_count=1` each): the other Observations are neither read nor reported."""
    latest: dict[int, tuple[str, Located]] = {}
    for found in observations:
        raw = found.resource
        codings = (raw.get("code") or {}).get("coding") if isinstance(raw.get("code"), dict) else None
        codes = {c.get("code") for c in codings or [] if isinstance(c, dict) and c.get("system") == LOINC}
        kind = next((index for index, kind in enumerate(OBSERVATION_KINDS) if codes & kind), None)
        period = raw.get("effectivePeriod") if isinstance(raw.get("effectivePeriod"), dict) else {}
        when = str(raw.get("effectiveDateTime") or period.get("start") or "")
        if kind is not None and (kind not in latest or when > latest[kind][0]):
            latest[kind] = (when, found)
    return [found for _, found in latest.values()]


def _never_current(resource: dict) -> bool:
    """A medication record whose status makes it no current medication whatever its dates (cancelled, stopped,
    entered-in-error ...: config/fhir_medications.yaml), as the hooks' prefetch leaves it out by status."""
    status = resource.get("status")
    return isinstance(status, str) and vocabulary()["statuses"][resource["resourceType"]].get(status) == "not_current"


def _located(message: str, places: dict[str, Located | None], patient_id: str) -> Unreadable:
    """An intake message ("conditions[3].code: ...") as the file and line of the resource it is about."""
    for prefix in sorted(places, key=len, reverse=True):
        place = places[prefix]
        if place is not None and message.startswith(prefix):
            return Unreadable(place.where, f"{place.resource.get('resourceType')}{message[len(prefix):]}")
    return Unreadable(f"patient {patient_id}", message)


# ------------------------------------------------------------------------------------------------- the whole run
def run_sweep(folder: Path, as_of: dt.date, settings: Settings, out: Path | None = None, workers: int = 1,
              scheduler: str | None = None, report: Callable[[str], None] = print) -> SweepSummary:
    """Sweep the export in `folder` at `as_of`; the worklist is written to `out`.csv and `out`.json (default
    var/sweeps/sweep-<id>). `report` receives each unreadable line or resource as it is found."""
    started = time.perf_counter()
    if scheduler and settings.database_url.startswith("sqlite"):
        raise SweepRefused("a Dask cluster's workers write to one shared database, and SQLite is a file on this "
                           "machine: set STEWARDSHIP_DATABASE_URL to the PostgreSQL database they all reach")
    files = export_files(folder)
    if not files:
        raise SweepRefused(f"no *.ndjson file in {folder}")
    key, export = sweep_key(folder, files, as_of.isoformat())
    database = make_engine(settings.database_url)
    hold = dt.timedelta(seconds=settings.sweep_hold_seconds)
    try:
        sweeps = SweepStore(database)
        try:
            sweep_id, run = sweeps.begin(key, as_of, export, hold)
        except SweepHeld as held:
            until = held.held_until.isoformat(timespec="seconds")
            raise SweepRefused(
                f"another run of sweep {held.sweep_id} (this export, as-of {as_of.isoformat()}) is under way: nothing "
                f"was checked. Its hold lasts until {until} unless it renews it; a run that died lets go then "
                "(STEWARDSHIP_SWEEP_HOLD_SECONDS)") from None
        with _holding(sweeps, sweep_id, run, hold):
            return _sweep(sweeps, SweepSummary(sweep_id, as_of.isoformat()), files, as_of, settings, out, workers,
                          scheduler, report, started)
    finally:
        database.dispose()


@contextlib.contextmanager
def _holding(sweeps: SweepStore, sweep_id: int, run: int, hold: dt.timedelta) -> Iterator[None]:
    """Renew this run's hold on the sweep every fifth of `hold` while it works (from a thread: the work blocks
    this one), and let go when it ends, finished or failed."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(hold.total_seconds() / 5):
            try:
                if not sweeps.renew(sweep_id, run, hold):
                    return  # another run took it after this one's hold lapsed: rows stay unique, checks may double
            except SQLAlchemyError:  # the database away for a moment: the next renewal tries again
                continue
    renewing = threading.Thread(target=renew, name=f"sweep-{sweep_id}-hold", daemon=True)
    renewing.start()
    try:
        yield
    finally:
        stop.set()
        renewing.join()
        with contextlib.suppress(SQLAlchemyError):  # the database gone at the end: the hold lapses by itself
            sweeps.let_go(sweep_id, run)


def _sweep(sweeps: SweepStore, summary: SweepSummary, files: list[Path], as_of: dt.date, settings: Settings,
           out: Path | None, workers: int, scheduler: str | None, report: Callable[[str], None],
           started: float) -> SweepSummary:
    """The run itself, once it holds the sweep."""
    out = out or _default_out(summary.sweep_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = sum(path.stat().st_size for path in files)
    # the rules in force, loaded as a hook call loads them: their review priority orders the worklist (with
    # workers=0 the partitions reuse this runtime)
    priority = _runtime(settings)[0].rulebook.review_priority
    # partitions for local workers in the system's temporary folder; for a cluster beside the worklist, on the
    # filesystem the workers share with this machine (like the export folder itself)
    with tempfile.TemporaryDirectory(prefix=f".sweep-{summary.sweep_id}-",
                                     dir=out.parent if scheduler else None) as work:
        results, unreadable, not_used = _run(files, Path(work), size, summary.sweep_id, as_of, settings,
                                             workers, scheduler, report)
    for result in results:
        summary.patients += result["patients"]
        summary.checked += result["checked"]
        summary.already += result["already"]
        for problem in result["problems"]:
            report(problem)
    summary.not_used = dict(sorted(not_used.items()))
    listed = sweeps.get(summary.sweep_id)
    summary.flagged = listed["flagged"]
    # lines (this run), resources of the patients reviewed (whichever run did), patients not checked (this run)
    summary.unreadable = unreadable + sweeps.unreadable_resources(summary.sweep_id) \
        + sum(result["failed"] for result in results)
    summary.seconds = time.perf_counter() - started
    summary.worklist = write_worklist(sweeps, summary, out, priority)
    sweeps.finish(summary.sweep_id, summary.patients, summary.unreadable, summary.seconds)
    return summary


def _default_out(sweep_id: int) -> Path:
    return VAR / "sweeps" / f"sweep-{sweep_id}"


def _run(files: list[Path], work: Path, size: int, sweep_id: int, as_of: dt.date, settings: Settings, workers: int,
         scheduler: str | None, report: Callable[[str], None]) -> tuple[list[dict], int, dict[str, int]]:
    client = None
    if scheduler:
        client = Client(scheduler, timeout=30)
        workers = max(1, sum(client.nthreads().values()))
    try:
        count = max(1, -(-size // PARTITION_BYTES), 2 * max(workers, 1))
        partitioned = partition(files, work, count, lambda problem: report(str(problem)))
        tasks = [PartitionTask(path, partitioned.medications, sweep_id, as_of, settings)
                 for path in partitioned.paths if path.stat().st_size]
        results: list[dict] = []
        if tasks:
            bag = dask.bag.from_sequence(tasks, npartitions=len(tasks)).map(review_partition)
            if client is not None:
                results = client.compute(bag).result()
            elif workers == 0:
                try:
                    results = bag.compute(scheduler="synchronous")
                finally:
                    _forget_runtimes()
            else:
                results = bag.compute(scheduler="processes", num_workers=workers)
        return results, partitioned.unreadable, dict(partitioned.not_used)
    finally:
        if client is not None:
            client.close()


def write_worklist(sweeps: SweepStore, summary: SweepSummary, out: Path,
                   priority: ReviewPriority) -> tuple[Path, Path]:
    """`out`.csv and `out`.json: every patient the sweep reviewed, most urgent first, row by row."""
    csv_path, json_path = out.with_name(out.name + ".csv"), out.with_name(out.name + ".json")
    head = {k: v for k, v in dataclasses.asdict(summary).items() if k != "worklist"}
    with csv_path.open("w", newline="", encoding="utf-8") as csv_file, \
            json_path.open("w", encoding="utf-8") as json_file:
        writer = csv.DictWriter(csv_file, fieldnames=WORKLIST_COLUMNS)
        writer.writeheader()
        json_file.write(json.dumps({"sweep": head})[:-1] + ', "worklist": [')
        for index, row in enumerate(sweeps.worklist(summary.sweep_id, priority)):
            writer.writerow(row)
            json_file.write(("," if index else "") + "\n  " + json.dumps(row))
        json_file.write("\n]}\n")
    return csv_path, json_path
