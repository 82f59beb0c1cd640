"""Use cases as plain functions taking their ports (cosmicpython's service layer)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Protocol

from .engine import Engine
from .model import CheckRequest, CheckResult, Outcome


class CheckStore(Protocol):
    """Where checks are kept: the whole check (input, findings, response, reminders) in one transaction."""

    def add_check(self, check_id: str, request_json: dict, response_json: dict, result: CheckResult,
                  requester: str | None, source: str, kb_version: str, patient_ref: str | None = None,
                  planned: list[dict] | None = None, hook_call: object | None = None) -> list[dict]: ...

    def get_check(self, check_id: str) -> dict | None: ...

    def outcomes_for(self, patient_ref: str) -> list[Outcome]: ...


def response_json(check_id: str, result: CheckResult) -> dict:
    return {
        "id": check_id,
        "asOf": result.as_of.isoformat(),
        "derived": result.derived,
        "findings": [finding.as_json(f"{check_id}:{index}") for index, finding in enumerate(result.findings)],
        "reminders": [],  # filled with the stored reminders (and their ids) by the store
        "resolved": result.resolved,
    }


def check_regimen(engine: Engine, store: CheckStore, request: CheckRequest, request_json: dict,
                  requester: str | None, source: str = "api") -> dict:
    """Run the check and keep it; returns the response as the API sends it (and as GET returns it later)."""
    return check_and_keep(engine, store, request, request_json, requester, source)[0]


def check_and_keep(engine: Engine, store: CheckStore, request: CheckRequest, request_json: dict,
                   requester: str | None, source: str = "api") -> tuple[dict, CheckResult]:
    """Run the check and keep it: the response as sent, and the domain result behind it (for cards)."""
    body, result = run_check(engine, store, request)
    keep_check(engine, store, request, request_json, body, result, requester, source)
    return body, result


def run_check(engine: Engine, store: CheckStore, request: CheckRequest) -> tuple[dict, CheckResult]:
    """The check's answer (with its id) and the domain result behind it, not kept yet: a caller that keeps more
    with it (a hook call's cards) builds that first and keeps both at once (`keep_check`).

    Outcomes recorded earlier for this patient (completed reminders) join the ones the request carries, so a
    later check knows what an earlier review found."""
    patient = request.patient
    if patient.id:
        known = {(o.drug, o.date, o.benefit) for o in patient.outcomes}
        stored = [o for o in store.outcomes_for(patient.id) if (o.drug, o.date, o.benefit) not in known]
        if stored:
            request = dataclasses.replace(request, patient=dataclasses.replace(
                patient, outcomes=tuple(patient.outcomes) + tuple(stored)))
    result = engine.check(request)
    body = response_json(str(uuid.uuid4()), result)
    body["rulesVersion"] = engine.rulebook.version  # which rules produced this answer (knowledge base + config)
    return body, result


def keep_check(engine: Engine, store: CheckStore, request: CheckRequest, request_json: dict, body: dict,
               result: CheckResult, requester: str | None, source: str, hook_call: object | None = None) -> None:
    """Keep the check `run_check` answered (its reminders fill `body["reminders"]`); `hook_call`, what the
    store keeps in the same transaction (a CDS Hooks call and its cards): both or neither."""
    store.add_check(body["id"], request_json, body, result, requester, source, engine.kb.version,
                    request.patient.id, [{**plan} for plan in result.reminders], hook_call=hook_call)


class ReminderAlreadyCompleted(ValueError):
    """A completed reminder asked to record the opposite outcome: its outcome stands (a new one goes in a check's
    patient.outcomes), so that the record is never silently rewritten."""


class ReminderStore(Protocol):
    def reminders_due(self, before: dt.date, status: str = "due") -> list[dict]: ...

    def complete_reminder(self, reminder_id: str, benefit: bool, note: str | None, on: dt.date | None,
                          pain_score: float | None, baseline: float | None, user: str | None) -> dict | None: ...


def outcome_date(given: dt.date | None, due: dt.date, today: dt.date) -> dt.date:
    """When the outcome counts from: the date given, else today, but never after the reminder's due date. An
    answer recorded late answers the review the reminder asked for on that date (and a check dated then sees it)."""
    return given or min(today, due)


def complete_reminder(store: ReminderStore, reminder_id: str, benefit: bool, note: str | None,
                      on: dt.date | None = None, pain_score: float | None = None, baseline: float | None = None,
                      user: str | None = None) -> dict | None:
    """Record whether the drug helped: it closes the reminder and joins the patient's record for later checks.
    None when there is no such reminder; ReminderAlreadyCompleted when it was closed with the other answer."""
    return store.complete_reminder(reminder_id, benefit, note, on, pain_score, baseline, user)
