"""One JSON error shape for the whole API: `{"error": code, "message": text, "fields": {path: reason}}`.

`fields` appears on 400s and names every bad field with its reason; the other keys are always there.
"""
from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger("stewardship.errors")


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

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge):
        return error_response(413, "payload_too_large",
                              f"the body is larger than {app.config['MAX_CONTENT_LENGTH']:,} bytes")

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError):
        # The database is unreachable or restarting: fail fast and say so; the transaction was rolled back, so
        # nothing half-written remains, and the next request reconnects (pool_pre_ping).
        log.warning("database unavailable: %s", type(error.orig).__name__ if error.orig else "unknown")
        return error_response(503, "database_unavailable", "the database is unavailable; retry shortly",
                              headers={"Retry-After": "5"})

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        if error.connection_invalidated:
            return _database_down(error)  # type: ignore[arg-type]
        log.exception("database error")
        return error_response(500, "internal_error", "the service failed; the error was logged")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the service failed; the error was logged")
