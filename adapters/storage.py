"""Storage: SQLAlchemy Core tables and the repository that the use cases talk to.

SQLite is the embedded default and PostgreSQL the production store; the same code serves both. The schema is
owned by Alembic (migrations/); tables are never created behind its back. Every write runs in one transaction
(`engine.begin()`), so a failure leaves nothing half-written.
"""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, ForeignKey, Integer, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, event, select, text, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Engine

from stewardship.accounts import IssuedToken, User
from stewardship.model import SEVERITIES, CheckResult, Outcome
from stewardship.services import ReminderAlreadyCompleted, outcome_date

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("user_name", String(64), ForeignKey("users.name"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


checks = Table(
    "checks", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("as_of", Date, nullable=False),
    Column("patient_ref", String(200), index=True),
    Column("requester", String(64)),
    Column("source", String(16), nullable=False),
    Column("max_severity", String(16)),
    Column("knowledge_base_version", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("response", JSON, nullable=False),
)

check_findings = Table(
    "check_findings", metadata,
    Column("check_id", String(36), ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("code", String(120), nullable=False, index=True),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("drugs", JSON, nullable=False),
    Column("summary", String(200), nullable=False),
)


reminders = Table(
    "reminders", metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_ref", String(200), nullable=False),
    Column("drug", String(100), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("due", Date, nullable=False),
    Column("rule", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),  # scheduled -> delivered -> completed
    Column("check_id", String(36), ForeignKey("checks.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("completed_by", String(64)),
    UniqueConstraint("patient_ref", "drug", "start_date", "kind", name="uq_reminders_course_kind"),
)

patient_outcomes = Table(
    "patient_outcomes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_ref", String(200), nullable=False, index=True),
    Column("drug", String(100), nullable=False),
    Column("date", Date, nullable=False),
    Column("benefit", Boolean, nullable=False),
    Column("pain_score", Float),
    Column("baseline_pain_score", Float),
    Column("note", Text),
    Column("reminder_id", String(36), ForeignKey("reminders.id")),
    Column("recorded_by", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


cds_hook_calls = Table(
    "cds_hook_calls", metadata,
    Column("hook_instance", String(100), primary_key=True),
    Column("service_id", String(100), nullable=False),
    Column("hook", String(32), nullable=False),
    Column("check_id", String(36), ForeignKey("checks.id")),
    Column("patient_ref", String(200)),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

cds_cards = Table(
    "cds_cards", metadata,
    Column("uuid", String(36), primary_key=True),
    Column("hook_instance", String(100), ForeignKey("cds_hook_calls.hook_instance"), nullable=False),
    Column("check_id", String(36), ForeignKey("checks.id"), index=True),
    Column("hook", String(32), nullable=False),
    Column("patient_ref", String(200)),
    Column("fingerprint", String(64), nullable=False),
    Column("code", String(120), nullable=False),
    Column("category", String(32), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(200), nullable=False),
    Column("suggestions", JSON, nullable=False),  # [{"uuid", "label", "action"}]
    Column("created_at", DateTime(timezone=True), nullable=False),
)

cds_feedback = Table(
    "cds_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(36), nullable=False),
    Column("check_id", String(36), index=True),
    Column("service_id", String(100), nullable=False),
    Column("outcome", String(16), nullable=False),  # accepted | overridden
    Column("accepted_suggestions", JSON, nullable=False),
    Column("override_system", String(200)),
    Column("override_code", String(100)),
    Column("override_display", String(300)),
    Column("user_comment", Text),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="uq_cds_feedback_once"),
)

jwt_seen = Table(
    "jwt_seen", metadata,
    Column("iss", String(300), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("owner", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("route", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),  # None while the first request is being answered
    Column("response", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _reminder_json(row) -> dict:  # noqa: ANN001 - a SQLAlchemy row mapping
    return {"id": row["id"], "patientId": row["patient_ref"], "drug": row["drug"], "kind": row["kind"],
            "due": row["due"].isoformat(), "startDate": row["start_date"].isoformat(), "rule": row["rule"],
            "message": row["message"], "status": row["status"]}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ensure_sqlite_folder(url: str) -> None:
    database = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    _ensure_sqlite_folder(url)
    if url.startswith("sqlite"):
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:  # noqa: ANN001 - DBAPI objects
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL: every transaction stays atomic and survives a crash of the service;
            # only a power cut can lose the last commits (SQLite is the embedded default, PostgreSQL the store)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()
        return engine
    # Per gunicorn worker: a sync worker serves one request at a time, so a small pool is enough, and two
    # instances of 5 workers stay well under PostgreSQL's default 100 connections.
    return create_engine(url, pool_pre_ping=True, pool_size=3, max_overflow=2, pool_timeout=5,
                         connect_args={"connect_timeout": 3})


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic `upgrade head`)."""
    _ensure_sqlite_folder(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


class SqlStore:
    """The repository for everything the service keeps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    # accounts
    def add_user(self, user: User) -> None:
        with self.engine.begin() as connection:
            connection.execute(users.insert().values(name=user.name, role=user.role,
                                                     password_hash=user.password_hash, created_at=_now()))

    def get_user(self, name: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(users).where(users.c.name == name)).mappings().first()
        return User(row["name"], row["role"], row["password_hash"]) if row else None

    def add_token(self, token: IssuedToken) -> None:
        with self.engine.begin() as connection:
            connection.execute(api_tokens.insert().values(token_id=token.token_id, secret_hash=token.secret_hash,
                                                          user_name=token.user_name, created_at=_now()))

    # checks
    def add_check(self, check_id: str, request_json: dict, response_json: dict, result: CheckResult,
                  requester: str | None, source: str, kb_version: str, patient_ref: str | None = None,
                  planned: list[dict] | None = None) -> list[dict]:
        """The check, its findings and its reminders in one transaction, or nothing. A reminder already scheduled for
        the same patient, drug, start date and kind is reused, never duplicated; `response_json["reminders"]` (and
        the return value) lists the stored ones with their ids."""
        severities = [f.severity for f in result.findings]
        worst = min(severities, key=SEVERITIES.index) if severities else None
        with self.engine.begin() as connection:
            stored, created = self._ensure_reminders(connection, patient_ref, planned or []) if patient_ref \
                else ([], [])
            response_json["reminders"] = [{k: r[k] for k in ("id", "drug", "kind", "due", "message")} for r in stored]
            connection.execute(checks.insert().values(
                id=check_id, created_at=_now(), as_of=result.as_of, patient_ref=patient_ref, requester=requester,
                source=source, max_severity=worst, knowledge_base_version=kb_version, request=request_json,
                response=response_json))
            if result.findings:
                connection.execute(check_findings.insert(), [
                    {"check_id": check_id, "position": index, "code": f.code, "category": f.category,
                     "severity": f.severity, "drugs": list(f.drugs), "summary": f.summary}
                    for index, f in enumerate(result.findings)])
            if created:  # the check that scheduled a reminder, now that the check row exists
                connection.execute(update(reminders).where(reminders.c.id.in_(created)).values(check_id=check_id))
        return response_json["reminders"]

    def _ensure_reminders(self, connection, patient_ref: str,  # noqa: ANN001 - a SQLAlchemy connection
                          planned: list[dict]) -> tuple[list[dict], list[str]]:
        """The stored reminders for these plans (one query in the usual case where they exist), and the ids of
        those created now."""
        if not planned:
            return [], []
        key_of = lambda drug, start, kind: (drug, start, kind)  # noqa: E731
        existing = {key_of(r["drug"], r["start_date"], r["kind"]): r for r in connection.execute(
            select(reminders).where(reminders.c.patient_ref == patient_ref,
                                    reminders.c.drug.in_({p["drug"] for p in planned}))).mappings()}
        stored, created = [], []
        for plan in planned:
            row = existing.get(key_of(plan["drug"], plan["startDate"], plan["kind"]))
            if row is None:
                reminder, new = self._insert_reminder(connection, patient_ref, plan)
                stored.append(reminder)
                if new:
                    created.append(reminder["id"])
            else:
                stored.append(_reminder_json(row))
        return stored, created

    def _insert_reminder(self, connection, patient_ref: str, plan: dict) -> tuple[dict, bool]:  # noqa: ANN001
        """Insert a planned reminder; (the stored reminder, whether it is new). Another check scheduling the same
        course at the same moment loses the race on the unique key and reads the winner's row."""
        key = (reminders.c.patient_ref == patient_ref) & (reminders.c.drug == plan["drug"]) & \
            (reminders.c.start_date == plan["startDate"]) & (reminders.c.kind == plan["kind"])
        values = {"id": str(uuid.uuid4()), "patient_ref": patient_ref, "drug": plan["drug"],
                  "start_date": plan["startDate"], "kind": plan["kind"], "due": plan["due"], "rule": plan["rule"],
                  "message": plan["message"], "status": "scheduled", "check_id": None, "created_at": _now()}
        try:
            with connection.begin_nested():
                connection.execute(reminders.insert().values(**values))
            return _reminder_json(values), True
        except IntegrityError:
            row = connection.execute(select(reminders).where(key)).mappings().first()
            return _reminder_json(row), False

    def reminders_due(self, before: dt.date, status: str = "due") -> list[dict]:
        query = select(reminders).order_by(reminders.c.due, reminders.c.id)
        if status == "due":
            query = query.where(reminders.c.status != "completed", reminders.c.due <= before)
        elif status != "all":
            query = query.where(reminders.c.status == status, reminders.c.due <= before)
        with self.engine.connect() as connection:
            return [_reminder_json(row) for row in connection.execute(query).mappings()]

    def complete_reminder(self, reminder_id: str, benefit: bool, note: str | None, on: dt.date | None,
                          pain_score: float | None, baseline: float | None, user: str | None) -> dict | None:
        """Close the reminder and record its outcome on the patient's record, together or not at all. The same
        answer again is a no-op (a retried call); the other answer is refused (ReminderAlreadyCompleted)."""
        with self.engine.begin() as connection:
            row = connection.execute(select(reminders).where(reminders.c.id == reminder_id)
                                     .with_for_update()).mappings().first()
            if row is None:
                return None
            if row["status"] == "completed":
                recorded = connection.execute(select(patient_outcomes.c.benefit).where(
                    patient_outcomes.c.reminder_id == reminder_id)).scalar()
                if recorded is not None and recorded != benefit:
                    raise ReminderAlreadyCompleted(
                        f"reminder {reminder_id} was completed with benefit={str(recorded).lower()}")
            else:
                connection.execute(update(reminders).where(reminders.c.id == reminder_id).values(
                    status="completed", completed_at=_now(), completed_by=user))
                connection.execute(patient_outcomes.insert().values(
                    patient_ref=row["patient_ref"], drug=row["drug"],
                    date=outcome_date(on, row["due"], dt.date.today()), benefit=benefit, pain_score=pain_score,
                    baseline_pain_score=baseline, note=note, reminder_id=reminder_id, recorded_by=user,
                    created_at=_now()))
            row = connection.execute(select(reminders).where(reminders.c.id == reminder_id)).mappings().first()
        return _reminder_json(row)

    def outcomes_for(self, patient_ref: str) -> list[Outcome]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(patient_outcomes).where(patient_outcomes.c.patient_ref == patient_ref)
                                      .order_by(patient_outcomes.c.date)).mappings().all()
        return [Outcome(r["drug"], r["date"], r["benefit"], r["pain_score"], r["baseline_pain_score"], r["note"])
                for r in rows]

    def deliver_due(self, before: dt.date, deliver) -> int:  # noqa: ANN001 - deliver(reminder_json) -> None
        """Deliver each due, undelivered reminder exactly once across concurrent sweepers: one reminder per
        transaction, claimed with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite serializes writers), handed to
        `deliver`, then marked delivered in the same transaction. A sweeper that dies before its commit leaves
        the reminder scheduled for the next sweep: none is lost."""
        count = 0
        while True:
            with self.engine.begin() as connection:
                row = connection.execute(
                    select(reminders).where(reminders.c.status == "scheduled", reminders.c.due <= before)
                    .order_by(reminders.c.due, reminders.c.id).limit(1)
                    .with_for_update(skip_locked=True)).mappings().first()
                if row is None:
                    return count
                claimed = connection.execute(
                    update(reminders).where(reminders.c.id == row["id"], reminders.c.status == "scheduled")
                    .values(status="delivered", delivered_at=_now()))
                if claimed.rowcount != 1:
                    continue  # another sweeper took it between our read and our write (SQLite)
                deliver(_reminder_json({**row, "status": "delivered"}))
            count += 1

    # idempotency
    def claim_idempotency_key(self, owner: str, key: str, route: str, request_hash: str,
                              stale_after: dt.timedelta) -> dict | None:
        """Claim (owner, key) for this request: None when claimed now; else the row already there
        ({"route", "request_hash", "status_code", "response"}). A claim left pending past `stale_after` (its
        request died) is taken over."""
        row_values = {"owner": owner, "key": key, "route": route, "request_hash": request_hash,
                      "created_at": _now()}
        try:
            with self.engine.begin() as connection:
                connection.execute(idempotency_keys.insert().values(**row_values))
            return None
        except IntegrityError:
            pass
        with self.engine.begin() as connection:
            row = connection.execute(select(idempotency_keys).where(
                idempotency_keys.c.owner == owner, idempotency_keys.c.key == key)).mappings().first()
            if row is None:
                connection.execute(idempotency_keys.insert().values(**row_values))
                return None
            if row["status_code"] is None and row["created_at"].replace(tzinfo=dt.timezone.utc) < _now() - stale_after:
                taken = connection.execute(update(idempotency_keys).where(
                    idempotency_keys.c.owner == owner, idempotency_keys.c.key == key,
                    idempotency_keys.c.status_code.is_(None), idempotency_keys.c.created_at == row["created_at"])
                    .values(created_at=_now(), request_hash=request_hash, route=route))
                if taken.rowcount == 1:
                    return None
            return dict(row)

    def complete_idempotency_key(self, owner: str, key: str, status_code: int, response: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(idempotency_keys).where(
                idempotency_keys.c.owner == owner, idempotency_keys.c.key == key).values(
                status_code=status_code, response=response))

    def release_idempotency_key(self, owner: str, key: str) -> None:
        """The request failed before answering: a retry with the same key may run it again."""
        with self.engine.begin() as connection:
            connection.execute(idempotency_keys.delete().where(
                idempotency_keys.c.owner == owner, idempotency_keys.c.key == key,
                idempotency_keys.c.status_code.is_(None)))

    # CDS Hooks
    def remember_jti(self, iss: str, jti: str, expires_at: dt.datetime) -> bool:
        """Record a JWT id; False when this issuer's jti was seen before (a replay), on any instance."""
        with self.engine.begin() as connection:
            connection.execute(jwt_seen.delete().where(jwt_seen.c.expires_at < _now() - dt.timedelta(hours=1)))
        try:
            with self.engine.begin() as connection:
                connection.execute(jwt_seen.insert().values(iss=iss, jti=jti, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    def hook_response(self, hook_instance: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(cds_hook_calls.c.response)
                                     .where(cds_hook_calls.c.hook_instance == hook_instance)).first()
        return row[0] if row else None

    def save_hook_call(self, hook_instance: str, service_id: str, hook: str, check_id: str, patient_ref: str | None,
                       response: dict, cards: list[dict]) -> dict:
        """The call's answer and its cards, together; a concurrent repeat of the same hookInstance gets the first."""
        try:
            with self.engine.begin() as connection:
                connection.execute(cds_hook_calls.insert().values(
                    hook_instance=hook_instance, service_id=service_id, hook=hook, check_id=check_id,
                    patient_ref=patient_ref, response=response, created_at=_now()))
                if cards:
                    connection.execute(cds_cards.insert(), [
                        {**card, "hook_instance": hook_instance, "check_id": check_id, "hook": hook,
                         "patient_ref": patient_ref, "created_at": _now()} for card in cards])
        except IntegrityError:
            return self.hook_response(hook_instance) or response
        return response

    def cards_shown(self, patient_ref: str, fingerprints: list[str], hook: str, since: dt.datetime) -> set[str]:
        if not fingerprints:
            return set()
        with self.engine.connect() as connection:
            rows = connection.execute(select(cds_cards.c.fingerprint).where(
                cds_cards.c.patient_ref == patient_ref, cds_cards.c.hook == hook,
                cds_cards.c.fingerprint.in_(fingerprints), cds_cards.c.created_at >= since)).all()
        return {row[0] for row in rows}

    def suggestion_origins(self, patient_ref: str, suggestion_uuids: set[str]) -> dict[str, str]:
        """{suggestion uuid: finding code of the card that proposed it}, for orders created by accepting one."""
        if not suggestion_uuids:
            return {}
        found: dict[str, str] = {}
        with self.engine.connect() as connection:
            rows = connection.execute(select(cds_cards.c.code, cds_cards.c.suggestions)
                                      .where(cds_cards.c.patient_ref == patient_ref)).all()
        for code, suggestions in rows:
            for suggestion in suggestions or []:
                if suggestion.get("uuid") in suggestion_uuids:
                    found[suggestion["uuid"]] = code
        return found

    def add_feedback(self, service_id: str, items: list[dict]) -> list[str]:
        """Store feedback on cards (a duplicate, same card, outcome and time, is stored once); returns the finding
        codes of the cards newly overridden."""
        overridden = []
        for item in items:
            with self.engine.connect() as connection:
                card = connection.execute(select(cds_cards.c.check_id, cds_cards.c.code)
                                          .where(cds_cards.c.uuid == item["card"])).first()
            check_id, code = (card[0], card[1]) if card else (None, None)
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            try:
                with self.engine.begin() as connection:
                    connection.execute(cds_feedback.insert().values(
                        card_uuid=item["card"], check_id=check_id, service_id=service_id, outcome=item["outcome"],
                        accepted_suggestions=[s["id"] for s in item.get("acceptedSuggestions") or []],
                        override_system=reason.get("system"), override_code=reason.get("code"),
                        override_display=reason.get("display"),
                        user_comment=(item.get("overrideReason") or {}).get("userComment"),
                        outcome_timestamp=item["outcomeTimestamp"], received_at=_now()))
            except IntegrityError:
                continue
            if item["outcome"] == "overridden" and code:
                overridden.append(code)
        return overridden

    def get_check(self, check_id: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(checks.c.response).where(checks.c.id == check_id)).first()
        return row[0] if row else None

    def get_token(self, token_id: str) -> IssuedToken | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).mappings().first()
        return IssuedToken(row["token_id"], row["secret_hash"], row["user_name"]) if row else None
