"""The JSON the service writes (orjson) reads exactly as the standard library's did, and falls back to it where
orjson refuses; Flask's answers keep Flask's formats."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from flask import Flask, render_template_string

from adapters import json_text
from web.json_provider import FastJSONProvider

VALUE = {"b": [1, 2.5, None, True], "a": {"é": "naïve → ok", "n": -3}, "c": "<script>"}


def test_what_is_written_reads_back_as_the_same_value():
    assert json.loads(json_text.dumps(VALUE)) == VALUE
    assert json_text.dumps(VALUE, sort_keys=True) == json.dumps(VALUE, sort_keys=True, ensure_ascii=False,
                                                                separators=(",", ":"))


def test_keys_that_are_not_strings_are_written_as_the_standard_library_writes_them():
    assert json.loads(json_text.dumps({1: "one"})) == {"1": "one"}


def test_what_orjson_refuses_is_written_by_the_standard_library():
    assert json.loads(json_text.dumps({"big": 2 ** 70})) == {"big": 2 ** 70}
    assert json.loads(json_text.dumps({"lone": "\ud800"})) == {"lone": "\ud800"}


def test_an_object_json_cannot_write_is_still_a_type_error():
    try:
        json_text.dumps({"x": object()})
    except TypeError:
        return
    raise AssertionError("expected a TypeError")


def _app() -> Flask:
    app = Flask(__name__)
    app.json = FastJSONProvider(app)
    return app


def test_flask_answers_keep_flasks_date_format_and_default():
    app, day = _app(), dt.date(2026, 11, 27)
    value = {"day": day, "at": dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.timezone.utc), "id": uuid.UUID(int=1),
             "amount": Decimal("2.50")}
    with app.app_context():
        fast = json.loads(app.json.dumps(value))
    assert fast == json.loads(Flask(__name__).json.dumps(value))
    assert fast["day"] == "Fri, 27 Nov 2026 00:00:00 GMT"


def test_a_flask_response_is_compact_json_with_a_newline():
    app = _app()
    with app.app_context():
        response = app.json.response({"b": 1, "a": "é"})
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data()) == {"b": 1, "a": "é"} and response.get_data().endswith(b"\n")


def test_jinjas_tojson_still_escapes_html():
    app = _app()
    with app.app_context():
        html = render_template_string("{{ value|tojson }}", value={"x": "</script><b>"})
    assert "</script>" not in html and "<b>" not in html
