"""Storage: SQLAlchemy Core tables and the repository that the use cases talk to.

SQLite is the embedded default and PostgreSQL the production store; the same code serves both. The schema is
owned by Alembic (migrations/); tables are never created behind its back. Every write runs in one transaction
(`engine.begin()`), so a failure leaves nothing half-written.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (JSON, Column, Date, DateTime, ForeignKey, Integer, MetaData, String, Table, create_engine,
                        event, select, text)
from sqlalchemy.engine import Engine

from stewardship.accounts import IssuedToken, User
from stewardship.model import SEVERITIES, CheckResult

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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


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
                  requester: str | None, source: str, kb_version: str) -> None:
        severities = [f.severity for f in result.findings]
        worst = min(severities, key=SEVERITIES.index) if severities else None
        with self.engine.begin() as connection:  # the check and its findings, or nothing
            connection.execute(checks.insert().values(
                id=check_id, created_at=_now(), as_of=result.as_of, patient_ref=request_json.get("patient", {}).get("id"),
                requester=requester, source=source, max_severity=worst, knowledge_base_version=kb_version,
                request=request_json, response=response_json))
            if result.findings:
                connection.execute(check_findings.insert(), [
                    {"check_id": check_id, "position": index, "code": f.code, "category": f.category,
                     "severity": f.severity, "drugs": list(f.drugs), "summary": f.summary}
                    for index, f in enumerate(result.findings)])

    def get_check(self, check_id: str) -> dict | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(checks.c.response).where(checks.c.id == check_id)).first()
        return row[0] if row else None

    def get_token(self, token_id: str) -> IssuedToken | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).mappings().first()
        return IssuedToken(row["token_id"], row["secret_hash"], row["user_name"]) if row else None
