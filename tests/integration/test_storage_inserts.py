"""The writes of every check and hook call go to the driver with SQL that SQLAlchemy compiled once per database and
values converted by their column types (adapters/storage.py `_insert_rows`): what is read back is what SQLAlchemy's
own insert stores, on SQLite and PostgreSQL, and the errors are SQLAlchemy's."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from adapters.storage import _insert_rows, _prepared_insert, checks, jwt_seen

AT = dt.datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=dt.timezone.utc)


def _check(check_id: str) -> dict:
    return {"id": check_id, "created_at": AT, "as_of": dt.date(2026, 12, 6), "patient_ref": "Patient/1",
            "requester": None, "source": "api", "max_severity": "warning", "knowledge_base_version": "kb",
            "request": {"regimen": [{"drug": "ibuprofen", "dose": None}], "note": "\u00e9\u4e2d \"quoted\""},
            "response": {"findings": [], "n": 1.5, "none": None}}


def test_a_check_written_through_the_driver_reads_back_as_one_written_by_sqlalchemy(app):
    engine = app.extensions["store"].engine
    with engine.begin() as connection:
        _insert_rows(connection, checks, [_check("by-driver")])
        connection.execute(checks.insert(), _check("by-sqlalchemy"))
    with engine.connect() as connection:
        rows = {row["id"]: row for row in connection.execute(select(checks)).mappings()}
    driver, core = dict(rows["by-driver"]), dict(rows["by-sqlalchemy"])
    assert driver.pop("id") == "by-driver" and core.pop("id") == "by-sqlalchemy"
    assert driver == core
    assert driver["request"]["note"] == "\u00e9\u4e2d \"quoted\"" and driver["response"]["none"] is None


def test_many_rows_go_in_one_call_and_a_duplicate_key_is_sqlalchemys_integrity_error(app):
    engine = app.extensions["store"].engine
    expires = AT + dt.timedelta(minutes=5)
    with engine.begin() as connection:
        _insert_rows(connection, jwt_seen, [{"iss": "https://ehr", "jti": f"t{n}", "expires_at": expires}
                                            for n in range(3)])
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _insert_rows(connection, jwt_seen, [{"iss": "https://ehr", "jti": "t9", "expires_at": expires},
                                            {"iss": "https://ehr", "jti": "t1", "expires_at": expires}])
    with engine.connect() as connection:  # the failed transaction kept nothing, t9 included
        assert sorted(connection.execute(select(jwt_seen.c.jti)).scalars()) == ["t0", "t1", "t2"]


def test_a_table_whose_columns_have_python_defaults_must_be_given_them():
    """Core fills in Python-side defaults; the driver gets only what the rows hold, so leaving one out is refused."""
    counted = Table("counted", MetaData(), Column("id", Integer, primary_key=True),
                    Column("kind", String(8), default="x"))
    with pytest.raises(ValueError, match="kind"):
        _prepared_insert(counted, ("id",), sqlite.dialect())
    assert _prepared_insert(counted, ("id", "kind"), sqlite.dialect())[1] == ("id", "kind")
