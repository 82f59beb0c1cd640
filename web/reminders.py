"""Stopping-rule reminders (contract 2.3): the due list, and completing one with its outcome.

A reminder belongs to the check that scheduled it: a prescriber lists and completes the reminders of their own
checks (another's answers 404, like an unknown one); pharmacists and admins all of them."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, request
from marshmallow import RAISE, Schema, fields, validate

from adapters.reviews import ReviewStore
from stewardship.services import ReminderAlreadyCompleted, complete_reminder

from .access import requester_scope
from .checks import json_body
from .errors import ApiError
from .idempotency import idempotent
from .schemas import load_or_400

bp = Blueprint("reminders", __name__)


class CompleteSchema(Schema):
    class Meta:
        unknown = RAISE

    benefit = fields.Boolean(required=True, truthy={True}, falsy={False})  # true or false, not "yes"
    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    date = fields.Date(load_default=None)
    painScore = fields.Float(load_default=None, validate=validate.Range(0, 10))
    baselinePainScore = fields.Float(load_default=None, validate=validate.Range(0, 10))


class DueQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default="due", validate=validate.OneOf(("due", "scheduled", "delivered", "completed",
                                                                         "all")))
    before = fields.Date(load_default=None)


@bp.get("/reminders")
def list_reminders():
    query = load_or_400(DueQuerySchema(), request.args.to_dict(), "invalid query")
    before = query["before"] or dt.date.today()
    user = getattr(g, "user", None)
    store = current_app.extensions["store"]
    found = store.reminders_due(before, query["status"], requester_scope(user))
    ReviewStore(store.engine).audit(user.name if user else None, "view_reminders",
                                    f"api:status={query['status']} before={before.isoformat()}")
    return {"status": query["status"], "before": before.isoformat(), "reminders": found}


@bp.post("/reminders/<reminder_id>/complete")
@idempotent
def complete(reminder_id: str):
    data = load_or_400(CompleteSchema(), json_body(), "the outcome has invalid fields; nothing was stored")
    user = getattr(g, "user", None)
    store = current_app.extensions["store"]
    scope = requester_scope(user)
    if scope is not None and not store.reminder_scheduled_by(reminder_id, scope):
        raise ApiError(404, "not_found", f"no reminder {reminder_id}")  # another prescriber's: as if unknown
    try:
        done = complete_reminder(store, reminder_id, data["benefit"], data["note"], data["date"], data["painScore"],
                                 data["baselinePainScore"], user.name if user else None)
    except ReminderAlreadyCompleted as error:
        raise ApiError(409, "conflict", f"{error}; its outcome stands (give a new one in a check's patient.outcomes)",
                       {"benefit": "the reminder was already completed with the other answer"}) from None
    if done is None:
        raise ApiError(404, "not_found", f"no reminder {reminder_id}")
    ReviewStore(store.engine).audit(user.name if user else None, "complete_reminder",
                                    f"api:reminder:{reminder_id}:benefit={str(data['benefit']).lower()}")
    return done
