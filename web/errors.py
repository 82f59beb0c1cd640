"""One JSON error shape for the whole API: `{"error": code, "message": text, "fields": {path: reason}}`.

`fields` appears on 400s and names every bad field with its reason; the other keys are always there.
"""
from __future__ import annotations

from typing import Mapping

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: Mapping[str, str] | None = None,
                 extra: Mapping[str, object] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.extra, self.headers = dict(fields or {}), dict(extra or {}), dict(headers or {})


def error_response(status: int, code: str, message: str, fields: Mapping[str, str] | None = None,
                   extra: Mapping[str, object] | None = None, headers: Mapping[str, str] | None = None):
    body: dict[str, object] = {"error": code, "message": message}
    if fields:
        body["fields"] = dict(fields)
    body.update(extra or {})
    response = jsonify(body)
    response.status_code = status
    response.headers.update(dict(headers or {}))
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.fields, error.extra, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "the service failed; the error was logged")
