"""Population sweeps (issue 16, migration 0011) on the one `metadata` of storage.py: a row per sweep (an export and
an as-of date) and a row per patient it reviewed, pointing at the stored check.

The (sweep, patient) row is the sweep's memory: a patient with a row is not checked again, so a re-run of the same
export at the same as-of date, or of one that was interrupted, adds no second check. The check is stored before
its row (they are two transactions: storage.py's check, then this); a sweep killed in between left a check whose
requester names the sweep, and the re-run adopts it instead of checking again (`adopt_checks`).

One run at a time holds a sweep (`begin`, `renew`, `let_go`): two runs at once would each check the patients neither
had recorded yet, and store two checks for them (two items in the review queue), of which one keeps the row.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    case,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from stewardship.model import SEVERITIES
from stewardship.review_priority import ReviewPriority

from .storage import _aware, _iso, _now, check_findings, checks, metadata

sweeps = Table(
    "sweeps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),  # SHA-256 of the export's files and the as-of date
    Column("as_of", Date, nullable=False),
    Column("export", JSON, nullable=False),  # {"folder", "files": [{"name", "bytes", "modified"}]}
    Column("started_at", DateTime(timezone=True), nullable=False),  # the first run
    Column("finished_at", DateTime(timezone=True)),  # the last run that completed; None while none has
    Column("runs", Integer, nullable=False),
    Column("patients", Integer),  # in the export, as the last completed run counted them
    Column("unreadable", Integer),  # lines and resources that could not be read, same
    Column("seconds", Float),  # the last completed run's
    # migration 0013: the run that holds the sweep (its number in `runs`), until when; it renews the hold while it
    # works and lets go when it ends, and a run that died lets go when its hold lapses
    Column("held_by_run", Integer),
    Column("held_until", DateTime(timezone=True)),
    UniqueConstraint("key", name="uq_sweeps_key"),
)

sweep_patients = Table(
    "sweep_patients", metadata,
    Column("sweep_id", Integer, ForeignKey("sweeps.id"), primary_key=True),
    Column("patient_ref", String(200), primary_key=True),
    Column("check_id", String(36), ForeignKey("checks.id"), nullable=False, index=True),
    # what the review priority reads besides the check's severity (adapters/reviews.py review_priority)
    Column("age_years", Float),
    Column("crcl_ml_min", Float),
    Column("has_suggestions", Boolean, nullable=False),
    Column("unreadable", Integer, nullable=False),  # this patient's resources that could not be read
    Column("created_at", DateTime(timezone=True), nullable=False),
)

FLAGGED = SEVERITIES[:2]  # critical, warning: what enters the review queue (adapters/reviews.py)
CHUNK = 500  # ids per IN (...): under the bound-parameter limits of both databases
WORKLIST_COLUMNS = ("priority", "patient_id", "check_id", "severity", "code", "summary", "age_years", "crcl_ml_min",
                    "unreadable")


def requester(sweep_id: int) -> str:
    """Who asked for a sweep's checks, as the checks table and the review queue show it."""
    return f"sweep:{sweep_id}"


class SweepHeld(Exception):
    """Another run holds the sweep (until `held_until`, unless it renews its hold)."""

    def __init__(self, sweep_id: int, held_until: dt.datetime) -> None:
        super().__init__(f"sweep {sweep_id} is held by another run until {held_until.isoformat(timespec='seconds')}")
        self.sweep_id, self.held_until = sweep_id, held_until


class SweepStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def begin(self, key: str, as_of: dt.date, export: dict, hold: dt.timedelta) -> tuple[int, int]:
        """The sweep's id for this key (created on its first run) and this run's number (each run is counted), the
        sweep held by this run for `hold`. SweepHeld while another run holds it: the conditional update lets exactly
        one of two runs starting at once in (PostgreSQL locks the row, SQLite serializes writers)."""
        now = _now()
        try:
            with self.engine.begin() as connection:
                return connection.execute(sweeps.insert().values(
                    key=key, as_of=as_of, export=export, started_at=now, runs=1, held_by_run=1,
                    held_until=now + hold)).inserted_primary_key[0], 1
        except IntegrityError:
            pass
        with self.engine.begin() as connection:
            taken = connection.execute(update(sweeps).where(
                sweeps.c.key == key, sweeps.c.held_until.is_(None) | (sweeps.c.held_until < now)).values(
                runs=sweeps.c.runs + 1, held_by_run=sweeps.c.runs + 1, held_until=now + hold)).rowcount
            row = connection.execute(select(sweeps.c.id, sweeps.c.runs, sweeps.c.held_until)
                                     .where(sweeps.c.key == key)).one()
        if taken != 1:
            raise SweepHeld(row.id, _aware(row.held_until))
        return row.id, row.runs

    def renew(self, sweep_id: int, run: int, hold: dt.timedelta) -> bool:
        """Hold the sweep for `hold` from now; False when this run no longer holds it."""
        with self.engine.begin() as connection:
            return connection.execute(update(sweeps).where(sweeps.c.id == sweep_id, sweeps.c.held_by_run == run)
                                      .values(held_until=_now() + hold)).rowcount == 1

    def let_go(self, sweep_id: int, run: int) -> None:
        """The run is over (finished or failed): the next one may start at once."""
        with self.engine.begin() as connection:
            connection.execute(update(sweeps).where(sweeps.c.id == sweep_id, sweeps.c.held_by_run == run)
                               .values(held_by_run=None, held_until=None))

    def finish(self, sweep_id: int, patients: int, unreadable: int, seconds: float) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(sweeps).where(sweeps.c.id == sweep_id).values(
                finished_at=_now(), patients=patients, unreadable=unreadable, seconds=seconds))

    def reviewed(self, sweep_id: int, patient_refs: list[str]) -> set[str]:
        """Those of these patients the sweep has a row for."""
        found: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(patient_refs), CHUNK):
                found.update(connection.execute(select(sweep_patients.c.patient_ref).where(
                    sweep_patients.c.sweep_id == sweep_id,
                    sweep_patients.c.patient_ref.in_(patient_refs[start:start + CHUNK]))).scalars())
        return found

    def adopt_checks(self, sweep_id: int, patient_refs: list[str]) -> set[str]:
        """Give a row to the checks an interrupted run stored without one (found by their requester); returns the
        patients adopted."""
        adopted: set[str] = set()
        with self.engine.connect() as connection:
            for start in range(0, len(patient_refs), CHUNK):
                rows = connection.execute(select(checks.c.patient_ref, checks.c.id, checks.c.response).where(
                    checks.c.requester == requester(sweep_id), checks.c.source == "sweep",
                    checks.c.patient_ref.in_(patient_refs[start:start + CHUNK]))).all()
                for patient_ref, check_id, response in rows:
                    if patient_ref not in adopted:
                        adopted.add(patient_ref)
                        self.record(sweep_id, patient_ref, check_id, response, unreadable=0)
        return adopted

    def record(self, sweep_id: int, patient_ref: str, check_id: str, response: dict, unreadable: int) -> bool:
        """The patient's row for its stored check; False when another run recorded the patient first."""
        derived = response.get("derived") or {}
        flagged = [f for f in response.get("findings") or [] if f["severity"] in FLAGGED]
        try:
            with self.engine.begin() as connection:
                connection.execute(sweep_patients.insert().values(
                    sweep_id=sweep_id, patient_ref=patient_ref, check_id=check_id, age_years=derived.get("ageYears"),
                    crcl_ml_min=derived.get("crclMlMin"),
                    has_suggestions=any(f.get("suggestions") for f in flagged), unreadable=unreadable,
                    created_at=_now()))
        except IntegrityError:
            return False
        return True

    def unreadable_resources(self, sweep_id: int) -> int:
        """Resources of the sweep's reviewed patients that could not be read."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.coalesce(func.sum(sweep_patients.c.unreadable), 0)).where(
                sweep_patients.c.sweep_id == sweep_id)).scalar_one()

    def worklist(self, sweep_id: int, priority: ReviewPriority) -> Iterator[dict]:
        """Every patient the sweep reviewed, most urgent first: as the review queue orders (adapters/reviews.py):
        critical before warning before the rest, then by `priority`, then by patient id. Read in batches, so that a
        population's worklist is never held whole."""
        from .reviews import review_priority  # reviews.py filters its queue by this module's table

        worst = check_findings.alias("worst")  # a check's findings are stored most severe first
        order = review_priority(priority, checks.c.max_severity,
                                {"ageYears": sweep_patients.c.age_years, "crclMlMin": sweep_patients.c.crcl_ml_min},
                                sweep_patients.c.has_suggestions).label("priority")
        severity_order = case((checks.c.max_severity == "critical", 0), (checks.c.max_severity == "warning", 1),
                              (checks.c.max_severity == "info", 2), else_=3)
        query = (select(order, sweep_patients.c.patient_ref, sweep_patients.c.check_id, checks.c.max_severity,
                        worst.c.code, worst.c.summary, sweep_patients.c.age_years, sweep_patients.c.crcl_ml_min,
                        sweep_patients.c.unreadable)
                 .select_from(sweep_patients.join(checks, checks.c.id == sweep_patients.c.check_id)
                              .outerjoin(worst, (worst.c.check_id == checks.c.id) & (worst.c.position == 0)))
                 .where(sweep_patients.c.sweep_id == sweep_id)
                 .order_by(severity_order, order.desc(), sweep_patients.c.patient_ref))
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=1000).execute(query)
            for row in result:
                yield dict(zip(WORKLIST_COLUMNS, row))

    def list(self, limit: int = 100, sweep_id: int | None = None) -> list[dict]:
        """The newest sweeps (or the one asked for) with their counts: patients reviewed (checked) and flagged
        (warning or critical)."""
        flagged = func.sum(case((checks.c.max_severity.in_(FLAGGED), 1), else_=0))
        counts = (select(sweep_patients.c.sweep_id, func.count().label("checked"), flagged.label("flagged"))
                  .select_from(sweep_patients.join(checks, checks.c.id == sweep_patients.c.check_id))
                  .group_by(sweep_patients.c.sweep_id).subquery())
        query = (select(sweeps, counts.c.checked, counts.c.flagged)
                 .select_from(sweeps.outerjoin(counts, counts.c.sweep_id == sweeps.c.id))
                 .order_by(sweeps.c.id.desc()).limit(limit))
        if sweep_id is not None:
            query = query.where(sweeps.c.id == sweep_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        now = _now()
        return [{"id": row["id"], "asOf": row["as_of"].isoformat(), "startedAt": _iso(row["started_at"]),
                 "finishedAt": _iso(row["finished_at"]), "runs": row["runs"],
                 # a run holds it now (a hold that lapsed is a run that died: the sweep is free again)
                 "runningUntil": _iso(row["held_until"]) if row["held_until"] and _aware(row["held_until"]) > now
                 else None,
                 "folder": row["export"]["folder"],
                 "files": len(row["export"]["files"]), "patients": row["patients"], "checked": row["checked"] or 0,
                 "flagged": int(row["flagged"] or 0), "unreadable": row["unreadable"], "seconds": row["seconds"]}
                for row in rows]

    def get(self, sweep_id: int) -> dict | None:
        found = self.list(1, sweep_id)
        return found[0] if found else None
