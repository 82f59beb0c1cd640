"""JSON text for what the service stores and answers, written and read by orjson.

A check's answer (about 30 KB for ten lines) is encoded once for storage and once for the response, and a hook call
writes some fifty small JSON values (cards, their suggestions, each finding's drugs): the standard library spent
about a tenth of a check's time on it (issue 15, item 8), orjson a tenth of that. Where orjson refuses what Python's
json writes (a lone surrogate that a "\\ud800" escape in a request put in a string, an integer beyond 64 bits), the
standard library writes it as before: nothing that was stored before is refused now.

Reading (request bodies, stored JSON) is the same bargain: a hook call's 6 KB body is read in 33 us instead of the
standard library's 53-88 us (the 20-digit test below included). What orjson refuses (a lone surrogate escape, NaN,
a number beyond a double, a byte order mark, UTF-16, nesting past 1,024 levels) the standard library reads as
before, so the input guard still names the field; and where orjson would read a value otherwise (an integer beyond
64 bits becomes a float), text holding a run of 20 digits goes to the standard library at once.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: ...} is written {"1": ...}, as json.dumps does
# 20 digits in a row: perhaps an integer beyond 64 bits, which orjson reads as a float and json exactly (a string of
# digits as long sends the text to json too: slower, never different). Found by mapping digits to 1 and the rest to
# 0 and searching for twenty 1s: a tenth of the time a regular expression takes over a 6 KB body.
_DIGITS_AS_ONES = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
_TWENTY_DIGITS = b"1" * 20


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


def loads(text: str | bytes | bytearray) -> Any:
    """JSON text as Python values, exactly as `json.loads` reads them (and failing as it fails)."""
    data = text
    if isinstance(text, str):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: orjson refuses it
            return json.loads(text)
    if _TWENTY_DIGITS not in data.translate(_DIGITS_AS_ONES):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # said by the standard library below: its error, or its reading
    return json.loads(text)
