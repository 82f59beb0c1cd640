"""What no route should have to think about, refused before any route runs (issue 13, items 10 and 13):

- a JSON body nested deeper than any request of this service needs (the parser would exhaust Python's recursion
  limit and answer a 500), or one that does not parse at all;
- a NUL character in any string of the body, the query or a form: PostgreSQL cannot store it in text columns
  (SQLite can), so it would be a 500 on one database and a stored value on the other.

Both are a 400 in the one error shape, naming the field where a field can be named.
"""
from __future__ import annotations

from flask import Flask, request

from .errors import ApiError

MAX_JSON_DEPTH = 32  # a check is 5 levels deep, a FHIR bundle in a hook call about 12


def _walk(value: object, path: str, depth: int, problems: dict[str, str]) -> None:
    if len(problems) >= 20:
        return
    if depth > MAX_JSON_DEPTH:
        problems[path or "(body)"] = f"nested deeper than {MAX_JSON_DEPTH} levels"
        return
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                problems[where.replace("\x00", "\\u0000")] = "a NUL character is not allowed"
                continue
            _walk(item, where, depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, problems)
    elif isinstance(value, str) and "\x00" in value:
        problems[path or "(body)"] = "a NUL character is not allowed"


def _check_request() -> None:
    problems: dict[str, str] = {}
    for source, values in (("query", request.args), ("form", request.form)):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                problems[f"{source}.{key.replace(chr(0), '')}"] = "a NUL character is not allowed"
    if request.is_json and request.content_length != 0:
        try:
            # parsed once: Flask keeps the result for the route's own get_json; not JSON is None here, and each route
            # answers that in its own words
            body = request.get_json(silent=True)
        except RecursionError:
            raise ApiError(400, "validation_failed", "the JSON body is nested too deeply",
                           {"(body)": f"nested deeper than {MAX_JSON_DEPTH} levels"}) from None
        _walk(body, "", 0, problems)
    if problems:
        raise ApiError(400, "validation_failed", "the request has values that cannot be accepted", problems)


def init_app(app: Flask) -> None:
    app.before_request(_check_request)
