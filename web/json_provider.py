"""Flask's JSON answers written, and request bodies read, by orjson (adapters/json_text.py: why, and what falls back
to the standard library).

The answers are those of Flask's own provider: dates and datetimes in its format, its `default` for the rest, keys
sorted when it would sort them; only the text is compact UTF-8 instead of \\u escapes, which JSON reads alike.
"""
from __future__ import annotations

from typing import Any

from flask import Response
from flask.json.provider import DefaultJSONProvider

from adapters import json_text


class FastJSONProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.keys() - {"separators"}:  # indented, or a caller's own options (Jinja's tojson): Flask's way
            return super().dumps(obj, **kwargs)
        return json_text.dumps(obj, sort_keys=self.sort_keys, default=self.default, passthrough=True)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return super().loads(s, **kwargs) if kwargs else json_text.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        return self._app.response_class(f"{self.dumps(self._prepare_response_obj(args, kwargs))}\n",
                                        mimetype=self.mimetype)
