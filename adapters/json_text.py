"""JSON text for what the service stores and answers, written by orjson.

A check's answer (about 30 KB for ten lines) is encoded once for storage and once for the response, and a hook call
writes some fifty small JSON values (cards, their suggestions, each finding's drugs): the standard library spent
about a tenth of a check's time on it (issue 15, item 8), orjson a tenth of that. Where orjson refuses what Python's
json writes (a lone surrogate that a "\\ud800" escape in a request put in a string, an integer beyond 64 bits), the
standard library writes it as before: nothing that was stored before is refused now.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: ...} is written {"1": ...}, as json.dumps does


def dumps(value: Any, sort_keys: bool = False, default: Callable[[Any], Any] | None = None,
          passthrough: bool = False) -> str:
    """`value` as compact JSON text. `passthrough`: dates, datetimes and dataclasses go to `default` (Flask's
    JSON provider writes dates in its own format) instead of orjson's ISO 8601."""
    options = _OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0) \
        | (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS if passthrough else 0)
    try:
        return orjson.dumps(value, default=default, option=options).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, sort_keys=sort_keys, default=default, separators=(",", ":"))
