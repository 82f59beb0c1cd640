"""The migrations match the models: a database brought to the newest schema is what the models describe, and
`stewardship db check` says so, or fails naming the difference (issue 15, item 1). On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from adapters.storage import schema_differences

CLI = [sys.executable, "-c", "import cli; cli.main()"]
ROOT = Path(__file__).resolve().parents[2]


def _db_check(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "db", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "STEWARDSHIP_DATABASE_URL": url})


def test_a_migrated_database_matches_the_models(settings):
    assert schema_differences(settings.database_url) == []
    checked = _db_check(settings.database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "matches the models" in checked.stdout


def test_a_missing_migration_fails_the_check_naming_the_difference(settings):
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_checks_patient_ref"))
    engine.dispose()
    checked = _db_check(settings.database_url)
    assert checked.returncode == 1
    assert "ix_checks_patient_ref" in checked.stdout


def test_the_order_sign_look_up_of_cards_already_shown_searches_indexes_and_scans_nothing(tmp_path):
    """Migration 0014 dropped the indexes no query reads; the one look-up each order-sign makes still finds the
    patient's order-select cards by index and their findings by primary key (SQLite's plan; PostgreSQL's follows
    its statistics)."""
    from adapters.storage import _cards_shown, _in, _slots, upgrade

    url = f"sqlite:///{tmp_path / 'plan.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    shown = ["a" * 64, "b" * 64]
    query = _cards_shown(_slots(shown)).params(patient_ref="Patient/1", hook="order-select",
                                               since=dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc),
                                               **_in("fingerprint", shown))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    try:
        with engine.connect() as connection:
            plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    finally:
        engine.dispose()
    assert any("ix_cds_cards_patient_hook_created" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
