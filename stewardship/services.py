"""Use cases as plain functions taking their ports (cosmicpython's service layer)."""
from __future__ import annotations

import uuid
from typing import Protocol

from .engine import Engine
from .model import CheckRequest, CheckResult


class CheckStore(Protocol):
    """Where checks are kept: the whole check (input, findings, response) in one transaction."""

    def add_check(self, check_id: str, request_json: dict, response_json: dict, result: CheckResult,
                  requester: str | None, source: str, kb_version: str) -> None: ...

    def get_check(self, check_id: str) -> dict | None: ...


def response_json(check_id: str, result: CheckResult) -> dict:
    return {
        "id": check_id,
        "asOf": result.as_of.isoformat(),
        "derived": result.derived,
        "findings": [finding.as_json(f"{check_id}:{index}") for index, finding in enumerate(result.findings)],
        "reminders": result.reminders,
        "resolved": result.resolved,
    }


def check_regimen(engine: Engine, store: CheckStore, request: CheckRequest, request_json: dict,
                  requester: str | None, source: str = "api") -> dict:
    """Run the check and keep it; returns the response as the API sends it (and as GET returns it later)."""
    result = engine.check(request)
    check_id = str(uuid.uuid4())
    body = response_json(check_id, result)
    store.add_check(check_id, request_json, body, result, requester, source, engine.kb.version)
    return body
