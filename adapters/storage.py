"""Storage: SQLAlchemy Core tables and the repository that the use cases talk to.

SQLite is the embedded default and PostgreSQL the production store; the same code serves both. The schema is
owned by Alembic (migrations/); tables are never created behind its back. Every write runs in one transaction
(`engine.begin()`), so a failure leaves nothing half-written.
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from settings import packaged
from stewardship.accounts import IssuedToken, User
from stewardship.model import SEVERITIES, CheckResult, Outcome
from stewardship.services import ReminderAlreadyCompleted, outcome_date

from . import json_text

MIGRATIONS = packaged("migrations")

# One metadata for every table (adapters/reviews.py and the other table modules add theirs to it; migrations/env.py
# imports them all), so that `stewardship db check` compares the migrated database with every model. Indexes that a
# migration named otherwise are declared with that name (Index(...)), the rest follow SQLAlchemy's own convention.
metadata = MetaData(naming_convention={"ix": "ix_%(column_0_label)s"})

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True)),  # migration 0008: no sign-in, no token, no session
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("user_name", String(64), ForeignKey("users.name"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

web_sessions = Table(  # migration 0008: the cookie carries a random id, this table only its SHA-256
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_name", String(64), ForeignKey("users.name"), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)


checks = Table(
    "checks", metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("as_of", Date, nullable=False),
    Column("patient_ref", String(200), index=True),
    Column("requester", String(200)),  # a user name, or a hook's context.userId (Practitioner/<FHIR id>)
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
    Column("code", String(120), nullable=False),  # counted over the whole table, never looked up (0014)
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
    Index("ix_reminders_status_due", "status", "due"),  # migration 0003's names
)

patient_outcomes = Table(
    "patient_outcomes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_ref", String(200), nullable=False),
    Column("drug", String(100), nullable=False),
    Column("date", Date, nullable=False),
    Column("benefit", Boolean, nullable=False),
    Column("pain_score", Float),
    Column("baseline_pain_score", Float),
    Column("note", Text),
    Column("reminder_id", String(36), ForeignKey("reminders.id")),
    Column("recorded_by", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_patient_outcomes_patient", "patient_ref"),  # migration 0003's name
)


cds_hook_calls = Table(
    "cds_hook_calls", metadata,
    Column("hook_instance", String(100), primary_key=True),
    Column("issuer", String(300)),  # the EHR that called (JWT iss); None with STEWARDSHIP_AUTH=off
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
    Column("check_id", String(36), ForeignKey("checks.id")),
    Column("hook", String(32), nullable=False),
    Column("patient_ref", String(200)),
    Column("fingerprint", String(64), nullable=False),
    Column("code", String(120), nullable=False),
    Column("category", String(32), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(200), nullable=False),
    Column("suggestions", JSON, nullable=False),  # [{"uuid", "label", "action"}]
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the one look-up by patient (cards already shown at order-select); migration 0014 dropped the indexes no query
    # read, each an extra page written by every order-sign
    Index("ix_cds_cards_patient_hook_created", "patient_ref", "hook", "created_at"),  # migration 0012's name
)
# A card's `code`, `category`, `indicator` and `fingerprint` above are those of its lead finding and of the card as a
# whole; the findings it stands for (one with `cards: per_finding`, several per draft order by default) are here, so
# that feedback and rule statistics count for each finding code (migration 0009, issue 14).
cds_card_findings = Table(
    "cds_card_findings", metadata,
    Column("card_uuid", String(36), ForeignKey("cds_cards.uuid"), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),  # the finding's (web.cds_cards.fingerprint)
    Column("code", String(120), nullable=False),
    Column("category", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
)

cds_feedback = Table(
    "cds_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(36), nullable=False),
    Column("check_id", String(36)),
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
    Index("ix_cds_feedback_check", "check_id"),
)

jwt_seen = Table(
    "jwt_seen", metadata,
    Column("iss", String(300), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_jwt_seen_expires_at", "expires_at"),
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


# The statements of every check, hook call and token look-up, built once and run with parameters: a statement built
# per call (`select(...).where(column == value)`, `insert().values(...)`) makes SQLAlchemy coerce its values and
# compute its cache key each time, which cost more than SQLite took to run it (make bench, issue 15 item 8).
_TOKEN = select(api_tokens).where(api_tokens.c.token_id == bindparam("token_id"))
_USER = select(users).where(users.c.name == bindparam("name"))
_TOKEN_HOLDER = select(api_tokens, users.c.name, users.c.role, users.c.password_hash, users.c.disabled_at) \
    .join(users, users.c.name == api_tokens.c.user_name).where(api_tokens.c.token_id == bindparam("token_id"))
_OUTCOMES = select(patient_outcomes).where(patient_outcomes.c.patient_ref == bindparam("patient_ref")) \
    .order_by(patient_outcomes.c.date)
_HOOK_ANSWER = select(cds_hook_calls.c.response, cds_hook_calls.c.issuer) \
    .where(cds_hook_calls.c.hook_instance == bindparam("hook_instance"))


# A list of values (`column IN (...)`) as a fixed number of parameters, a power of two and at least 4, the values
# repeated to fill it: each length is compiled once. An expanding parameter (`bindparam(expanding=True)`) has its
# SQL rewritten on every call, which cost 0.1-0.14 ms of an order-sign's two look-ups here (make bench, issue 15).
def _slots(values: Sequence[object]) -> int:
    return max(4, 1 << (len(values) - 1).bit_length())


def _in(name: str, values: Sequence[object]) -> dict[str, object]:
    """The parameters of `_listed(column, name, _slots(values))` for these values (at least one)."""
    return {f"{name}_{i}": values[i % len(values)] for i in range(_slots(values))}


def _listed(column: ColumnElement, name: str, slots: int) -> ColumnElement[bool]:
    return column.in_([bindparam(f"{name}_{i}", type_=column.type) for i in range(slots)])


@functools.cache
def _course_reminders(slots: int) -> Select:
    return select(reminders).where(reminders.c.patient_ref == bindparam("patient_ref"),
                                   _listed(reminders.c.drug, "drug", slots))


@functools.cache
def _checks_since(slots: int) -> Select:
    return select(checks.c.created_at).where(
        checks.c.requester == bindparam("requester"), _listed(checks.c.source, "source", slots),
        checks.c.created_at >= bindparam("since")).order_by(checks.c.created_at)


@functools.cache
def _cards_shown(slots: int) -> Select:
    return select(cds_card_findings.c.fingerprint).distinct() \
        .join(cds_cards, cds_cards.c.uuid == cds_card_findings.c.card_uuid) \
        .where(cds_cards.c.patient_ref == bindparam("patient_ref"), cds_cards.c.hook == bindparam("hook"),
               _listed(cds_card_findings.c.fingerprint, "fingerprint", slots),
               cds_cards.c.created_at >= bindparam("since"))


@functools.cache
def _prepared_insert(table: Table, keys: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[str, ...], tuple]:
    """An INSERT of these columns as this dialect's driver takes it: the SQL that SQLAlchemy compiles for it, the
    order of its parameters, and each column type's own conversion of a value for this dialect (JSON to text, a
    datetime to SQLite's text; None where the driver takes the value as it is)."""
    unset = [column.name for column in table.columns if column.default is not None and column.name not in keys]
    if unset:  # Core would fill these in; the driver is given only what the rows hold
        raise ValueError(f"{table.name}: columns with Python-side defaults must be given: {', '.join(unset)}")
    compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup) if compiled.positional else keys
    return compiled.string, names, tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                                         for name in names)


def _insert_rows(connection: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Insert rows that all name the same columns, through the driver, in the connection's transaction.

    The writes of every check and hook call (the check, its findings, its audit row, the call, its cards and their
    findings, the token id): SQLAlchemy compiles each INSERT once per database (`_prepared_insert`) and each value is
    converted by its column type's own conversion, as `Connection.execute` does, without its general machinery
    building the parameters again on every call: 0.17 ms less per order-sign (issue 15, item 8; calls alternating at
    random with the `execute` version, 1,500 and 2,000 of them). Errors are SQLAlchemy's, as before (IntegrityError
    on a duplicate key)."""
    sql, names, converters = _prepared_insert(table, tuple(rows[0]), connection.dialect)
    values = [tuple(row[name] if convert is None else convert(row[name]) for name, convert in zip(names, converters))
              for row in rows]
    parameters = values if connection.dialect.positional else [dict(zip(names, row)) for row in values]
    connection.exec_driver_sql(sql, parameters if len(parameters) > 1 else parameters[0])


JTI_PURGE_INTERVAL = dt.timedelta(minutes=1)
_EXPIRED_JTIS = jwt_seen.delete().where(jwt_seen.c.expires_at < bindparam("before"))


def _reminder_json(row) -> dict:  # noqa: ANN001 - a SQLAlchemy row mapping
    return {"id": row["id"], "patientId": row["patient_ref"], "drug": row["drug"], "kind": row["kind"],
            "due": row["due"].isoformat(), "startDate": row["start_date"].isoformat(), "rule": row["rule"],
            "message": row["message"], "status": row["status"]}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; every time stored here is UTC
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def _iso(value: dt.datetime | None) -> str | None:
    """A stored time as the API shows it (UTC, to the second); None stays None."""
    return None if value is None else _aware(value).isoformat(timespec="seconds")


def _user(row) -> User:  # noqa: ANN001 - a SQLAlchemy row mapping
    return User(row["name"], row["role"], row["password_hash"], row["disabled_at"] is not None)


def _issued_token(row) -> IssuedToken:  # noqa: ANN001 - a SQLAlchemy row mapping
    return IssuedToken(row["token_id"], row["secret_hash"], row["user_name"], _aware(row["expires_at"]),
                       _aware(row["revoked_at"]), _aware(row["created_at"]))


def _ensure_sqlite_folder(url: str) -> None:
    database = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> Engine:
    _ensure_sqlite_folder(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, json_serializer=json_text.dumps, json_deserializer=json_text.loads)

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
                         connect_args={"connect_timeout": 3}, json_serializer=json_text.dumps,
                         json_deserializer=json_text.loads)


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic `upgrade head`)."""
    _ensure_sqlite_folder(url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


# The modules that add tables to `metadata` besides this one: Alembic and `db check` must see every table.
TABLE_MODULES = ("adapters.reviews", "adapters.sweeps")


def all_tables() -> MetaData:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return metadata


def schema_differences(url: str) -> list[str]:
    """What separates the database at `url` from the models (Alembic's autogenerate comparison): empty when every
    migration that the models need exists and has been applied. Each difference as one readable line."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return [_difference(item) for item in compare_metadata(context, all_tables())]
    finally:
        engine.dispose()


def _difference(item: object) -> str:
    if isinstance(item, list):  # column modifications come as a list of tuples
        return "; ".join(_difference(part) for part in item)
    kind, *rest = item
    names = [getattr(part, "name", None) or str(part) for part in rest if part is not None][:3]
    return f"{kind}: {' '.join(str(n) for n in names)}"


@dataclass(frozen=True)
class HookCall:
    """A CDS Hooks call as kept with the check that answered it: the answer sent and the rows of its cards."""
    hook_instance: str
    issuer: str | None
    service_id: str
    hook: str
    response: dict
    cards: list[dict]


class HookInstanceRepeated(Exception):
    """A call with the same hookInstance was answered and kept while this one ran: its answer stands."""


class HookInstanceTaken(Exception):
    """A hookInstance already answered for another CDS client."""


class SqlStore:
    """The repository for everything the service keeps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._jtis_purged_at: dt.datetime | None = None  # when this process last deleted expired token ids

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
            row = connection.execute(_USER, {"name": name}).mappings().first()
        return _user(row) if row else None

    def set_user_disabled(self, name: str, disabled: bool) -> None:
        """Disabling also ends the user's web sessions and revokes its tokens, in the same transaction."""
        now = _now()
        with self.engine.begin() as connection:
            connection.execute(update(users).where(users.c.name == name).values(disabled_at=now if disabled else None))
            if disabled:
                self._end_sessions(connection, web_sessions.c.user_name == name, now)
                connection.execute(update(api_tokens).where(api_tokens.c.user_name == name,
                                                            api_tokens.c.revoked_at.is_(None)).values(revoked_at=now))

    def add_token(self, token: IssuedToken) -> None:
        with self.engine.begin() as connection:
            connection.execute(api_tokens.insert().values(token_id=token.token_id, secret_hash=token.secret_hash,
                                                          user_name=token.user_name, created_at=_now(),
                                                          expires_at=token.expires_at))

    def list_tokens(self, user_name: str) -> list[IssuedToken]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(api_tokens).where(api_tokens.c.user_name == user_name)
                                      .order_by(api_tokens.c.created_at)).mappings().all()
        return [_issued_token(row) for row in rows]

    def revoke_tokens(self, user_name: str, token_id: str | None = None) -> int:
        where = [api_tokens.c.user_name == user_name, api_tokens.c.revoked_at.is_(None)]
        if token_id is not None:
            where.append(api_tokens.c.token_id == token_id)
        with self.engine.begin() as connection:
            return connection.execute(update(api_tokens).where(*where).values(revoked_at=_now())).rowcount

    # web sessions (web/sessions.py keeps the policy: lifetime, idle timeout)
    def add_web_session(self, id_hash: str, user_name: str) -> None:
        """A new session; the user's sessions ended or older than a day are deleted now, so the table holds
        about one row per signed-in browser."""
        now = _now()
        with self.engine.begin() as connection:
            connection.execute(web_sessions.delete().where(
                web_sessions.c.user_name == user_name,
                web_sessions.c.revoked_at.is_not(None) | (web_sessions.c.created_at < now - dt.timedelta(days=1))))
            connection.execute(web_sessions.insert().values(id_hash=id_hash, user_name=user_name, created_at=now,
                                                            last_seen_at=now))

    def get_web_session(self, id_hash: str) -> dict | None:
        """{"user_name", "created_at", "last_seen_at", "revoked_at"} with aware datetimes, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(web_sessions).where(web_sessions.c.id_hash == id_hash)).mappings().first()
        if row is None:
            return None
        return {key: _aware(row[key]) if key.endswith("_at") else row[key] for key in
                ("user_name", "created_at", "last_seen_at", "revoked_at")}

    def touch_web_session(self, id_hash: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(web_sessions).where(web_sessions.c.id_hash == id_hash)
                               .values(last_seen_at=_now()))

    def end_web_session(self, id_hash: str) -> None:
        with self.engine.begin() as connection:
            self._end_sessions(connection, web_sessions.c.id_hash == id_hash, _now())

    def end_web_sessions(self, user_name: str) -> int:
        with self.engine.begin() as connection:
            return self._end_sessions(connection, web_sessions.c.user_name == user_name, _now())

    @staticmethod
    def _end_sessions(connection, which, now: dt.datetime) -> int:  # noqa: ANN001 - SQLAlchemy objects
        return connection.execute(update(web_sessions).where(which, web_sessions.c.revoked_at.is_(None))
                                  .values(revoked_at=now)).rowcount

    # checks
    def add_check(self, check_id: str, request_json: dict, response_json: dict, result: CheckResult,
                  requester: str | None, source: str, kb_version: str, patient_ref: str | None = None,
                  planned: list[dict] | None = None, hook_call: HookCall | None = None) -> list[dict]:
        """The check, its findings, its reminders and its audit row (`create_check`, target `<source>:check:<id>`) in
        one transaction, or nothing: a check is never stored unaudited, nor audited unstored, and a database lost
        after the check was kept cannot turn its answer into an error. A reminder already scheduled for the same
        patient, drug, start date and kind is reused, never duplicated; `response_json["reminders"]` (and the return
        value) lists the stored ones with their ids.

        `hook_call`: the CDS Hooks call this check answers, kept in the same transaction (one commit for the call);
        HookInstanceRepeated when a concurrent call with the same hookInstance was kept first (this check is not
        kept: the first answer stands)."""
        try:
            with self.engine.begin() as connection:
                reminders_kept = self._insert_check(connection, check_id, request_json, response_json, result,
                                                    requester, source, kb_version, patient_ref, planned or [])
                if hook_call is not None:
                    self._insert_hook_call(connection, check_id, patient_ref, hook_call)
        except IntegrityError:
            if hook_call is None:
                raise
            raise HookInstanceRepeated(hook_call.hook_instance) from None
        return reminders_kept

    def _insert_check(self, connection, check_id: str, request_json: dict,  # noqa: ANN001 - a connection
                      response_json: dict, result: CheckResult, requester: str | None, source: str, kb_version: str,
                      patient_ref: str | None, planned: list[dict]) -> list[dict]:
        from .reviews import audit_log  # its module adds its tables to this one's metadata (and imports it)

        severities = [f.severity for f in result.findings]
        worst = min(severities, key=SEVERITIES.index) if severities else None
        stored, created = self._ensure_reminders(connection, patient_ref, planned) if patient_ref else ([], [])
        response_json["reminders"] = [{k: r[k] for k in ("id", "drug", "kind", "due", "message")} for r in stored]
        _insert_rows(connection, checks, [{
            "id": check_id, "created_at": _now(), "as_of": result.as_of, "patient_ref": patient_ref,
            "requester": requester, "source": source, "max_severity": worst, "knowledge_base_version": kb_version,
            "request": request_json, "response": response_json}])
        if result.findings:
            _insert_rows(connection, check_findings, [
                {"check_id": check_id, "position": index, "code": f.code, "category": f.category,
                 "severity": f.severity, "drugs": list(f.drugs), "summary": f.summary}
                for index, f in enumerate(result.findings)])
        if created:  # the check that scheduled a reminder, now that the check row exists
            connection.execute(update(reminders).where(reminders.c.id.in_(created)).values(check_id=check_id))
        _insert_rows(connection, audit_log, [{"at": _now(), "user_name": (requester or "")[:64] or None,
                                              "action": "create_check", "target": f"{source}:check:{check_id}"}])
        return response_json["reminders"]

    def _ensure_reminders(self, connection, patient_ref: str,  # noqa: ANN001 - a SQLAlchemy connection
                          planned: list[dict]) -> tuple[list[dict], list[str]]:
        """The stored reminders for these plans (one query in the usual case where they exist), and the ids of
        those created now."""
        if not planned:
            return [], []
        key_of = lambda drug, start, kind: (drug, start, kind)  # noqa: E731
        drugs = sorted({p["drug"] for p in planned})
        existing = {key_of(r["drug"], r["start_date"], r["kind"]): r for r in connection.execute(
            _course_reminders(_slots(drugs)), {"patient_ref": patient_ref, **_in("drug", drugs)}).mappings()}
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

    def reminders_due(self, before: dt.date, status: str = "due", requester: str | None = None) -> list[dict]:
        """Reminders by due date; with `requester`, only those scheduled by a check that requester made."""
        query = select(reminders).order_by(reminders.c.due, reminders.c.id)
        if requester is not None:
            query = query.where(reminders.c.check_id.in_(select(checks.c.id).where(checks.c.requester == requester)))
        if status == "due":
            query = query.where(reminders.c.status != "completed", reminders.c.due <= before)
        elif status != "all":
            query = query.where(reminders.c.status == status, reminders.c.due <= before)
        with self.engine.connect() as connection:
            return [_reminder_json(row) for row in connection.execute(query).mappings()]

    def reminder_scheduled_by(self, reminder_id: str, requester: str) -> bool:
        """Whether the reminder was scheduled by a check that `requester` made."""
        with self.engine.connect() as connection:
            return connection.execute(select(reminders.c.id).select_from(
                reminders.join(checks, reminders.c.check_id == checks.c.id)).where(
                reminders.c.id == reminder_id, checks.c.requester == requester)).first() is not None

    def complete_reminder(self, reminder_id: str, benefit: bool, note: str | None, on: dt.date | None,
                          pain_score: float | None, baseline: float | None, user: str | None) -> dict | None:
        """Close the reminder and record its outcome on the patient's record, together or not at all. The same
        answer again is a no-op (a retried call); the other answer is refused (ReminderAlreadyCompleted)."""
        with self.engine.begin() as connection:
            # Claim the reminder with a conditional UPDATE: of two concurrent completions exactly one changes the
            # row, on SQLite too (where FOR UPDATE is ignored and both could read it open and record two outcomes).
            claimed = connection.execute(update(reminders).where(
                reminders.c.id == reminder_id, reminders.c.status != "completed").values(
                status="completed", completed_at=_now(), completed_by=user)).rowcount == 1
            row = connection.execute(select(reminders).where(reminders.c.id == reminder_id)).mappings().first()
            if row is None:
                return None
            if not claimed:
                recorded = connection.execute(select(patient_outcomes.c.benefit).where(
                    patient_outcomes.c.reminder_id == reminder_id)).scalar()
                if recorded is not None and recorded != benefit:
                    raise ReminderAlreadyCompleted(
                        f"reminder {reminder_id} was completed with benefit={str(recorded).lower()}")
            else:
                connection.execute(patient_outcomes.insert().values(
                    patient_ref=row["patient_ref"], drug=row["drug"],
                    date=outcome_date(on, row["due"], dt.date.today()), benefit=benefit, pain_score=pain_score,
                    baseline_pain_score=baseline, note=note, reminder_id=reminder_id, recorded_by=user,
                    created_at=_now()))
            row = connection.execute(select(reminders).where(reminders.c.id == reminder_id)).mappings().first()
        return _reminder_json(row)

    def outcomes_for(self, patient_ref: str) -> list[Outcome]:
        with self.engine.connect() as connection:
            rows = connection.execute(_OUTCOMES, {"patient_ref": patient_ref}).mappings().all()
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
        """Record a JWT id; False when this issuer's jti was seen before (a replay), on any instance. Ids expired
        over an hour ago are deleted in the same transaction, at most once a minute per process (a replay rolls
        that back: the next call does it); a replay of an expired token is refused by its `exp` anyway."""
        now = _now()
        purge = self._jtis_purged_at is None or now - self._jtis_purged_at >= JTI_PURGE_INTERVAL
        try:
            with self.engine.begin() as connection:
                if purge:
                    connection.execute(_EXPIRED_JTIS, {"before": now - dt.timedelta(hours=1)})
                _insert_rows(connection, jwt_seen, [{"iss": iss, "jti": jti, "expires_at": expires_at}])
        except IntegrityError:
            return False
        if purge:
            self._jtis_purged_at = now
        return True

    def hook_response(self, hook_instance: str, issuer: str | None) -> dict | None:
        """The answer already given for this hookInstance, or None. Raises HookInstanceTaken when another issuer
        used it: an answer (and its patient's findings) is returned only to the EHR it was made for."""
        with self.engine.connect() as connection:
            row = connection.execute(_HOOK_ANSWER, {"hook_instance": hook_instance}).first()
        if row is None:
            return None
        if row[1] != issuer:
            raise HookInstanceTaken(hook_instance)
        return row[0]

    @staticmethod
    def _insert_hook_call(connection, check_id: str, patient_ref: str | None,  # noqa: ANN001 - a connection
                          call: HookCall) -> None:
        """The call's answer and the cards it showed (each with the findings it stands for)."""
        _insert_rows(connection, cds_hook_calls, [{
            "hook_instance": call.hook_instance, "issuer": call.issuer, "service_id": call.service_id,
            "hook": call.hook, "check_id": check_id, "patient_ref": patient_ref, "response": call.response,
            "created_at": _now()}])
        if call.cards:
            _insert_rows(connection, cds_cards, [
                {**{k: v for k, v in card.items() if k != "findings"}, "hook_instance": call.hook_instance,
                 "check_id": check_id, "hook": call.hook, "patient_ref": patient_ref, "created_at": _now()}
                for card in call.cards])
            _insert_rows(connection, cds_card_findings, [
                {**finding, "card_uuid": card["uuid"]} for card in call.cards for finding in card["findings"]])

    def cards_shown(self, patient_ref: str, fingerprints: list[str], hook: str, since: dt.datetime) -> set[str]:
        """Which of these finding fingerprints were on a card of this hook for the patient since then."""
        if not fingerprints:
            return set()
        with self.engine.connect() as connection:
            rows = connection.execute(_cards_shown(_slots(fingerprints)), {
                "patient_ref": patient_ref, "hook": hook, "since": since, **_in("fingerprint", fingerprints)}).all()
        return {row[0] for row in rows}

    def suggestion_origins(self, patient_ref: str, suggestion_uuids: set[str]) -> dict[str, frozenset[str]]:
        """{suggestion uuid: the finding codes of the card that proposed it}, for orders created by accepting one."""
        if not suggestion_uuids:
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(select(cds_cards.c.uuid, cds_cards.c.suggestions)
                                      .where(cds_cards.c.patient_ref == patient_ref)).all()
            proposed_by = {suggestion["uuid"]: card for card, suggestions in rows for suggestion in suggestions or []
                           if suggestion.get("uuid") in suggestion_uuids}
            codes = self._card_codes(connection, set(proposed_by.values()))
        return {suggestion: frozenset(codes.get(card, ())) for suggestion, card in proposed_by.items()}

    @staticmethod
    def _card_codes(connection, card_uuids: set[str]) -> dict[str, list[str]]:  # noqa: ANN001 - a connection
        """{card uuid: the codes of the findings it stands for}."""
        if not card_uuids:
            return {}
        found: dict[str, list[str]] = {}
        for card, code in connection.execute(select(cds_card_findings.c.card_uuid, cds_card_findings.c.code)
                                             .where(cds_card_findings.c.card_uuid.in_(card_uuids))):
            found.setdefault(card, []).append(code)
        return found

    def add_feedback(self, service_id: str, items: list[dict], issuer: str | None) -> list[str]:
        """Store feedback on cards this issuer was shown (a duplicate, same card, outcome and time, is stored
        once); feedback on a card unknown to this issuer (another EHR's, or never shown) is not stored. Returns
        the finding codes of the cards newly overridden: each finding a card stands for."""
        overridden = []
        for item in items:
            with self.engine.connect() as connection:
                card = connection.execute(
                    select(cds_cards.c.check_id)
                    .join(cds_hook_calls, cds_hook_calls.c.hook_instance == cds_cards.c.hook_instance)
                    .where(cds_cards.c.uuid == item["card"], cds_hook_calls.c.issuer.is_(None) if issuer is None
                           else cds_hook_calls.c.issuer == issuer)).first()
                codes = self._card_codes(connection, {item["card"]}).get(item["card"], []) if card else []
            if card is None:
                continue
            check_id = card[0]
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
            if item["outcome"] == "overridden":
                overridden.extend(codes)
        return overridden

    def get_check(self, check_id: str, requester: str | None = None) -> dict | None:
        """The check's response; with `requester`, only if that requester made it."""
        query = select(checks.c.response).where(checks.c.id == check_id)
        if requester is not None:
            query = query.where(checks.c.requester == requester)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return row[0] if row else None

    def checks_made_since(self, requester: str, since: dt.datetime, sources: tuple[str, ...]) -> list[dt.datetime]:
        """When `requester` made checks from these sources since `since`, oldest first (for the rate limit: the
        checks table itself is the shared counter, so every worker and instance sees the same count)."""
        with self.engine.connect() as connection:
            rows = connection.execute(_checks_since(_slots(sources)), {
                "requester": requester, "since": since, **_in("source", sources)}).scalars().all()
        return [_aware(at) for at in rows]

    def token_holder(self, token_id: str) -> tuple[IssuedToken, User] | None:
        """The token and the user it belongs to."""
        with self.engine.connect() as connection:
            row = connection.execute(_TOKEN_HOLDER, {"token_id": token_id}).mappings().first()
        return (_issued_token(row), _user(row)) if row else None

    def get_token(self, token_id: str) -> IssuedToken | None:
        with self.engine.connect() as connection:
            row = connection.execute(_TOKEN, {"token_id": token_id}).mappings().first()
        return _issued_token(row) if row else None
