"""Stopping-rule reminders (contract 2.3): the due list, and completing one with its outcome."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from stewardship.services import ReminderAlreadyCompleted, complete_reminder

from .checks import json_body
from .errors import ApiError
from .idempotency import idempotent
from .schemas import field_errors

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
    try:
        query = DueQuerySchema().load(request.args.to_dict())
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "invalid query", field_errors(error.messages)) from None
    before = query["before"] or dt.date.today()
    return {"status": query["status"], "before": before.isoformat(),
            "reminders": current_app.extensions["store"].reminders_due(before, query["status"])}


@bp.post("/reminders/<reminder_id>/complete")
@idempotent
def complete(reminder_id: str):
    try:
        data = CompleteSchema().load(json_body())
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the outcome has invalid fields; nothing was stored",
                       field_errors(error.messages)) from None
    user = getattr(g, "user", None)
    try:
        done = complete_reminder(current_app.extensions["store"], reminder_id, data["benefit"], data["note"],
                                 data["date"], data["painScore"], data["baselinePainScore"],
                                 user.name if user else None)
    except ReminderAlreadyCompleted as error:
        raise ApiError(409, "conflict", f"{error}; its outcome stands (give a new one in a check's patient.outcomes)",
                       {"benefit": "the reminder was already completed with the other answer"}) from None
    if done is None:
        raise ApiError(404, "not_found", f"no reminder {reminder_id}")
    return done
