"""What no route should have to think about, refused before any route runs (issue 13, items 10 and 13):

- a JSON body nested deeper than any request of this service needs (the parser would exhaust Python's recursion
  limit and answer a 500), or one that does not parse at all;
- a NUL character in any string of the body, the query or a form: PostgreSQL cannot store it in text columns
  (SQLite can), so it would be a 500 on one database and a stored value on the other;
- a lone surrogate in a string of the body (a "\\ud800" escape without its pair): not Unicode that UTF-8 can
  write, a 500 on both databases.

Each is a 400 in the one error shape, naming the field where a field can be named.
"""
from __future__ import annotations

from flask import Flask, request

from .errors import ApiError

MAX_JSON_DEPTH = 32  # a check is 5 levels deep, a FHIR bundle in a hook call about 12
# In a body's bytes, what may put a NUL or a lone surrogate in a string: a NUL byte (a UTF-16 or UTF-32 body has
# many), the JSON escape of NUL, any surrogate escape (a valid pair, as an emoji may be written, is read whole).
_MARKERS = (b"\x00", b"\\u0000", b"\\ud", b"\\uD")


def _problem(text: str) -> str | None:
    """What makes a string unstorable: a NUL, or a lone surrogate (a "\\ud800" escape with no pair), which is not
    Unicode that UTF-8 can write, so neither database can store it."""
    if "\x00" in text:
        return "a NUL character is not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode (a lone surrogate escape)"
    return None


def _named(where: str) -> str:
    """A field name as the answer can show it: NULs and lone surrogates as their escapes."""
    return where.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def _walk(value: object, path: str, depth: int, problems: dict[str, str]) -> None:
    if len(problems) >= 20:
        return
    if depth > MAX_JSON_DEPTH:
        problems[_named(path) or "(body)"] = f"nested deeper than {MAX_JSON_DEPTH} levels"
        return
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = _problem(key)
            if problem:
                problems[_named(where)] = problem
                continue
            _walk(item, where, depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, problems)
    elif isinstance(value, str) and (problem := _problem(value)):
        problems[_named(path) or "(body)"] = problem


def _nested_deeper(body: object) -> bool:
    """Whether a value sits deeper than MAX_JSON_DEPTH, counted as `_walk` counts (the body is at depth 0): the
    containers level by level, scalars never visited one by one."""
    level = [body] if isinstance(body, (dict, list)) else []
    for _ in range(MAX_JSON_DEPTH):
        children: list = []
        for container in level:
            values = container.values() if isinstance(container, dict) else container
            children.extend([value for value in values if isinstance(value, (dict, list))])
        level = children
    return any(level)  # containers at depth MAX_JSON_DEPTH: anything in one sits deeper


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
        data = request.get_data(cache=True)
        # Most bodies hold no NUL (not as a byte, as in UTF-16, nor as the JSON escape) nor any surrogate escape and
        # are shallow: told by byte searches and a walk of the containers alone; the walk that names each field
        # runs only when needed.
        if any(marker in data for marker in _MARKERS) or _nested_deeper(body):
            _walk(body, "", 0, problems)
    if problems:
        raise ApiError(400, "validation_failed", "the request has values that cannot be accepted", problems)


def init_app(app: Flask) -> None:
    app.before_request(_check_request)
