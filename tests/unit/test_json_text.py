"""The JSON the service writes (orjson) reads exactly as the standard library's did, and falls back to it where
orjson refuses; what it reads (orjson) is what the standard library read, failures included; Flask's answers keep
Flask's formats."""
from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal

import pytest
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


# what orjson reads alike, refuses, or (integers beyond 64 bits) would read otherwise
READ_ALIKE = ['{"a":1,"a":2}', '{"é":"naïve","n":-0.0,"x":[1e-400,5e-324,1.7976931348623157e308]}',
              '"\\ud83d\\ude00"', '{"nul":"\\u0000"}', "18446744073709551615", "-9223372036854775808"]
READ_BY_THE_STANDARD_LIBRARY = ["123456789012345678901234567890", '{"x":-98765432109876543210}', "1e400", "NaN",
                                '{"lone":"\\ud800"}']


@pytest.mark.parametrize("text", READ_ALIKE + READ_BY_THE_STANDARD_LIBRARY)
def test_what_is_read_is_what_the_standard_library_reads_from_text_and_from_bytes(text):
    expected = json.loads(text)
    for given in (text, text.encode("utf-8")):
        found = json_text.loads(given)
        assert repr(found) == repr(expected)  # repr: -0.0 and inf, and int kept apart from float
        assert type(found) is type(expected)


def test_an_integer_beyond_64_bits_stays_exact():
    assert json_text.loads(b'{"id": 123456789012345678901234567890}')["id"] == 123456789012345678901234567890


def test_utf16_bodies_a_byte_order_mark_and_nan_are_read_as_before():
    assert json_text.loads('{"a": "ö"}'.encode("utf-16")) == {"a": "ö"}
    assert json_text.loads(b"\xef\xbb\xbf{}") == {}
    assert math.isnan(json_text.loads(b"[NaN]")[0])


@pytest.mark.parametrize("text", ["{", '{"a": }', "[1,]", "", "{'a': 1}"])
def test_what_is_not_json_fails_as_the_standard_library_fails(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as found:
        json_text.loads(text)
    assert str(found.value) == str(expected.value)


def test_nesting_past_the_parsers_limit_is_still_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json_text.loads(deep)


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
