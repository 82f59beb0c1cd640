"""Pharmacist review over the JSON API (contract 2.4): the queue, claims, a decision on one item, the decisions as
CSV, and a prescriber's own checks with the decisions on them (issue 14, "the loop").

Only pharmacists and admins review (queue, claims, decisions, export); a prescriber's token gets a 403. Everyone
reads their own checks at `/my/checks`. With `STEWARDSHIP_AUTH=off` (local development) there is no user:
decisions are recorded without a name, and "my" checks are those made without one.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Blueprint, Response, current_app, g, request, url_for
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from adapters.reviews import (
    CLAIM_FILTERS,
    DECISIONS,
    INTERVENTIONS,
    REVIEW_STATUSES,
    ClaimTaken,
    ReviewStore,
    UnknownFindings,
)
from stewardship.review_priority import ReviewPriority

from .access import REVIEWER_ROLES
from .checks import json_body
from .errors import ApiError
from .idempotency import idempotent
from .schemas import load_or_400

bp = Blueprint("reviews", __name__)
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200  # a page of the queue: bounded, so one view costs the same however long it is
MAX_NAMED_FINDINGS = 50


class DecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    intervention = fields.String(load_default=None, validate=validate.OneOf(INTERVENTIONS))
    # finding codes of the item's check that the decision acts on (checked against the check when stored)
    findings = fields.List(fields.String(validate=validate.Length(1, 120)), load_default=list,
                           validate=validate.Length(max=MAX_NAMED_FINDINGS))

    @validates_schema
    def _say_what_to_change(self, data: dict, **_: object) -> None:
        # the prescriber has to know what to change or why the order was refused
        if data.get("decision") in ("changes_requested", "rejected") and not (data.get("note") or "").strip():
            raise ValidationError("say what should change (a note is required unless approved)", "note")


class QueueQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default="open", validate=validate.OneOf(REVIEW_STATUSES))
    limit = fields.Integer(load_default=PAGE_SIZE, validate=validate.Range(1, MAX_PAGE_SIZE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))
    q = fields.String(load_default=None, validate=validate.Length(1, 200))  # the start of a patient id
    claimed = fields.String(load_default=None, validate=validate.OneOf(CLAIM_FILTERS))
    sweep = fields.Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))  # a population sweep's id


class PageQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=PAGE_SIZE, validate=validate.Range(1, MAX_PAGE_SIZE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


def review_store() -> ReviewStore:
    return ReviewStore(current_app.extensions["store"].engine)


def review_priority() -> ReviewPriority:
    """The queue's order in the rules in force: config/review_priority.yaml, under the site's override."""
    return current_app.extensions["engine"].rulebook.review_priority


def record_decision(check_id: str, data: dict, decided_by: str | None) -> dict | None:
    """Store a loaded DecisionSchema for the item (None: no such review item), queueing its webhook notification
    when one is configured; UnknownFindings when it names a code its check does not have."""
    notify = current_app.config["SETTINGS"].decision_webhook_url is not None
    return review_store().add_decision(check_id, data["decision"], data["note"], decided_by, data["intervention"],
                                       tuple(data["findings"]), notify)


def unknown_findings_message(error: UnknownFindings) -> str:
    return f"not a finding of this check: {', '.join(error.codes)}"


# CSV export: one row per decision, superseded ones too (in_force says which holds)
CSV_COLUMNS = (("decision_id", "id"), ("decided_at", "decidedAt"), ("decided_by", "decidedBy"),
               ("check_id", "checkId"), ("check_created_at", "checkCreatedAt"), ("patient_id", "patientId"),
               ("requester", "requester"), ("max_severity", "maxSeverity"), ("decision", "decision"),
               ("intervention", "intervention"), ("findings", "findings"), ("note", "note"), ("in_force", "inForce"))
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection"): the cell gets a
# leading apostrophe, which spreadsheets show as text. Tab and carriage return are on OWASP's list too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = "; ".join(value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def decisions_csv(rows: Iterable[dict]) -> Iterator[str]:
    """The decisions as CSV text, a line at a time (streamed: the export holds one batch of rows at once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[object]) -> str:
        writer.writerow(list(cells))
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(name for name, _ in CSV_COLUMNS)
    for row in rows:
        yield line(csv_cell(row[key]) for _, key in CSV_COLUMNS)


def csv_response(who: str | None, via: str) -> Response:
    store = review_store()
    store.audit(who, "export_decisions", via)
    return Response(decisions_csv(store.decision_rows()), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="review-decisions.csv"',
                             "Cache-Control": "no-store"})


def waited(seconds: int) -> str:
    """A wait as people say it: 45 min, 3 h 05 min, 2 d 4 h."""
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _reviewer_name() -> str | None:
    user = getattr(g, "user", None)
    if user is not None and user.role not in REVIEWER_ROLES:
        raise ApiError(403, "forbidden", f"reviews are for the roles {', '.join(REVIEWER_ROLES)}; "
                                         f"{user.name} is a {user.role}")
    return user.name if user else None


def _no_item(check_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no review item {check_id} (unknown check, or one without a warning or "
                                      "critical finding)")


@bp.get("/reviews")
def list_reviews():
    reviewer = _reviewer_name()
    query = load_or_400(QueueQuerySchema(), request.args.to_dict(), "invalid query")
    if query["claimed"] == "mine" and reviewer is None:
        raise ApiError(400, "validation_failed", "invalid query",
                       {"claimed": "mine needs a user (STEWARDSHIP_AUTH is off)"})
    store = review_store()
    status, limit, offset = query["status"], query["limit"], query["offset"]
    store.audit(reviewer, "view_queue", f"api:{status} claimed={query['claimed'] or ''}"
                                        f"{' q' if query['q'] else ''}")  # a patient id searched is not logged
    items, more = store.items(review_priority(), status, limit, offset, patient=query["q"],
                              claimed=query["claimed"], reviewer=reviewer, sweep=query["sweep"])
    following = offset + limit if more else None
    filters = {key: query[key] for key in ("q", "claimed", "sweep") if query[key]}
    return {"status": status, "reviews": items, "limit": limit, "offset": offset, "nextOffset": following,
            "next": url_for(".list_reviews", status=status, limit=limit, offset=following, **filters)
            if more else None}


@bp.get("/reviews/decisions.csv")
def export_decisions():
    """Every decision as CSV, for audit and for the P&T committee's intervention counts."""
    return csv_response(_reviewer_name(), "api")


@bp.get("/reviews/<check_id>")
def review_item(check_id: str):
    """One review item with its whole decision trail (oldest first; the last is in force), the claim on it and the
    EHR's feedback."""
    reviewer = _reviewer_name()
    store = review_store()
    check = store.check(check_id)
    if check is None or not check["isReviewItem"]:
        raise _no_item(check_id)
    store.audit(reviewer, "view_item", f"api:check:{check_id}")
    decisions = store.decisions(check_id)
    return {"id": check_id, "createdAt": check["createdAt"], "requester": check["requester"],
            "source": check["source"], "maxSeverity": check["maxSeverity"],
            "status": "closed" if decisions else "open", "claim": store.claim_of(check_id), "decisions": decisions,
            "feedback": store.feedback(check_id), "findings": check["response"].get("findings", [])}


@bp.post("/reviews/<check_id>/claim")
def claim_item(check_id: str):
    """Claim an item: 200 with the claim (also when it is already the caller's), 409 naming who holds it."""
    reviewer = _reviewer_name()
    if reviewer is None:
        raise ApiError(400, "validation_failed", "a claim needs a user (STEWARDSHIP_AUTH is off)")
    try:
        claim = review_store().claim(check_id, reviewer)
    except ClaimTaken as taken:
        raise ApiError(409, "claimed", f"review item {check_id} is {taken}", extra={"claim": taken.claim}) from None
    if claim is None:
        raise _no_item(check_id)
    return {"checkId": check_id, **claim}


@bp.delete("/reviews/<check_id>/claim")
def release_item(check_id: str):
    """Release a claim: one's own, or as an admin anyone's (a colleague gone off shift). 204; 404 when unclaimed,
    409 when another pharmacist holds it."""
    reviewer = _reviewer_name()
    if reviewer is None:
        raise ApiError(400, "validation_failed", "a claim needs a user (STEWARDSHIP_AUTH is off)")
    try:
        released = review_store().release(check_id, reviewer, anyones=g.user.role == "admin")
    except ClaimTaken as taken:
        raise ApiError(409, "claimed", f"review item {check_id} is {taken}; only they or an admin release it",
                       extra={"claim": taken.claim}) from None
    if not released:
        raise ApiError(404, "not_found", f"review item {check_id} is not claimed")
    return "", 204


@bp.post("/reviews/<check_id>/decision")
@idempotent
def decide(check_id: str):
    reviewer = _reviewer_name()
    data = load_or_400(DecisionSchema(), json_body(), "the decision has invalid fields; nothing was stored")
    try:
        decision = record_decision(check_id, data, reviewer)
    except UnknownFindings as error:
        raise ApiError(400, "validation_failed", "the decision has invalid fields; nothing was stored",
                       {"findings": unknown_findings_message(error)}) from None
    if decision is None:
        raise _no_item(check_id)
    return decision, 201


@bp.get("/my/checks")
def my_checks():
    """The caller's own checks, newest first, with review status, claim and the decision in force (any token)."""
    user = getattr(g, "user", None)
    query = load_or_400(PageQuerySchema(), request.args.to_dict(), "invalid query")
    store = review_store()
    name = user.name if user else None
    store.audit(name, "view_my_checks", f"api:offset={query['offset']}")
    found, more = store.checks_by(name, query["limit"], query["offset"])
    following = query["offset"] + query["limit"] if more else None
    return {"checks": found, "limit": query["limit"], "offset": query["offset"], "nextOffset": following,
            "next": url_for(".my_checks", limit=query["limit"], offset=following) if more else None}
