"""Fixtures: the real knowledge base (loaded once), and for integration tests one fresh database per test on
SQLite and, where reachable, PostgreSQL (its own schema per test, dropped afterwards)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from stewardship import knowledge
from stewardship.terminology import Resolver

POSTGRES_URL = os.environ.get("STEWARDSHIP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def kb() -> knowledge.KnowledgeBase:
    return knowledge.load()


@pytest.fixture(scope="session")
def resolver(kb: knowledge.KnowledgeBase) -> Resolver:
    return Resolver(kb)


def _postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stewardship.sqlite3'}"
        return
    if not _postgres_available():
        if os.environ.get("STEWARDSHIP_TEST_POSTGRES") == "required":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required (STEWARDSHIP_TEST_POSTGRES=required)")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(database_url: str):
    from adapters.storage import upgrade
    from settings import Settings

    upgrade(database_url)
    return Settings(database_url=database_url, auth=True, testing=True)


@pytest.fixture
def app(settings):
    from api import create_app

    application = create_app(settings)
    yield application
    application.extensions["store"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(app) -> str:
    from stewardship import accounts

    store = app.extensions["store"]
    accounts.add_user(store, "pat.pharmacist", "pharmacist", "correct horse battery")
    return accounts.create_token(store, "pat.pharmacist")


@pytest.fixture
def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def engine(kb, resolver):
    from stewardship.engine import Engine
    from stewardship.rulebook import load_rulebook

    return Engine(kb, resolver, load_rulebook(kb))


@pytest.fixture(scope="session")
def check(engine):
    """check(patient, *regimen lines) -> Outcome"""
    from tests.unit.clinical import Outcome, request

    def run(who, *regimen, **kwargs):
        return Outcome(engine.check(request(who, *regimen, **kwargs)))
    return run
