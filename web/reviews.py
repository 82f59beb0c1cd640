"""Pharmacist review over the JSON API (contract 2.4): the queue, and a decision on one item.

Only pharmacists and admins review; a prescriber's token gets a 403. With `STEWARDSHIP_AUTH=off` (local
development) there is no user, and decisions are recorded without a name.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from adapters.reviews import DECISIONS, REVIEW_STATUSES, ReviewStore

from .checks import json_body
from .errors import ApiError
from .idempotency import idempotent
from .schemas import field_errors

bp = Blueprint("reviews", __name__)
REVIEWER_ROLES = ("pharmacist", "admin")


class DecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))

    @validates_schema
    def _say_what_to_change(self, data: dict, **_: object) -> None:
        # the prescriber has to know what to change or why the order was refused
        if data.get("decision") in ("changes_requested", "rejected") and not (data.get("note") or "").strip():
            raise ValidationError("say what should change (a note is required unless approved)", "note")


class QueueQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default="open", validate=validate.OneOf(REVIEW_STATUSES))


def review_store() -> ReviewStore:
    return ReviewStore(current_app.extensions["store"].engine)


def _reviewer_name() -> str | None:
    user = getattr(g, "user", None)
    if user is not None and user.role not in REVIEWER_ROLES:
        raise ApiError(403, "forbidden", f"reviews are for the roles {', '.join(REVIEWER_ROLES)}; "
                                         f"{user.name} is a {user.role}")
    return user.name if user else None


@bp.get("/reviews")
def list_reviews():
    reviewer = _reviewer_name()
    try:
        query = QueueQuerySchema().load(request.args.to_dict())
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "invalid query", field_errors(error.messages)) from None
    store = review_store()
    store.audit(reviewer, "view_queue", f"api:{query['status']}")
    return {"status": query["status"], "reviews": store.items(query["status"])}


@bp.get("/reviews/<check_id>")
def review_item(check_id: str):
    """One review item with its whole decision trail (oldest first; the last is in force) and the EHR's feedback."""
    reviewer = _reviewer_name()
    store = review_store()
    check = store.check(check_id)
    if check is None or not check["isReviewItem"]:
        raise ApiError(404, "not_found", f"no review item {check_id} (unknown check, or one without a warning or "
                                         "critical finding)")
    store.audit(reviewer, "view_item", f"api:check:{check_id}")
    decisions = store.decisions(check_id)
    return {"id": check_id, "createdAt": check["createdAt"], "requester": check["requester"],
            "source": check["source"], "maxSeverity": check["maxSeverity"],
            "status": "closed" if decisions else "open", "decisions": decisions,
            "feedback": store.feedback(check_id), "findings": check["response"].get("findings", [])}


@bp.post("/reviews/<check_id>/decision")
@idempotent
def decide(check_id: str):
    reviewer = _reviewer_name()
    try:
        data = DecisionSchema().load(json_body())
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the decision has invalid fields; nothing was stored",
                       field_errors(error.messages)) from None
    decision = review_store().add_decision(check_id, data["decision"], data["note"], reviewer)
    if decision is None:
        raise ApiError(404, "not_found", f"no review item {check_id} (unknown check, or one without a warning or "
                                         "critical finding)")
    return decision, 201
