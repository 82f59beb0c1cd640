"""`POST /api/v1/checks` and `GET /api/v1/checks/{id}` (contract 2.1 and 2.2)."""
from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable

from flask import Blueprint, current_app, g, request

from adapters.reviews import ReviewStore
from stewardship.services import check_regimen

from .access import requester_scope
from .errors import ApiError
from .idempotency import idempotent
from .observability import count_findings
from .schemas import CheckSchema, ProcedurePlanSchema, load_or_400

bp = Blueprint("checks", __name__)
_CHECK_SCHEMA = CheckSchema()  # built once: a marshmallow schema is reusable, and building one deep-copies fields
_PLAN_SCHEMA = ProcedurePlanSchema()
RATE_WINDOW = dt.timedelta(minutes=1)
RATE_LIMITED_SOURCES = ("api", "web")  # a person's checks; an EHR's hook calls follow its own traffic


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "validation_failed", "the body must be a JSON object",
                       {"(body)": "expected a JSON object (Content-Type: application/json)"})
    return body


def seconds_until_next_check(user_name: str) -> int | None:
    """None while `user_name` is under STEWARDSHIP_CHECKS_PER_MINUTE; else the seconds until one more check is
    allowed. Counted from the stored checks, so every worker and instance shares the count (two requests racing at
    the limit may both pass: the limit bounds the rate, it is not a quota)."""
    limit = current_app.config["SETTINGS"].checks_per_minute
    if limit <= 0:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    made = current_app.extensions["store"].checks_made_since(user_name, now - RATE_WINDOW, RATE_LIMITED_SOURCES)
    if len(made) < limit:
        return None
    # one more is allowed once enough of the window's checks have aged out of it
    frees_at = made[len(made) - limit] + RATE_WINDOW
    return max(1, math.ceil((frees_at - now).total_seconds()))


def rate_limited(view: Callable) -> Callable:
    """Refuse a user's check over the limit with a 429 and Retry-After. Outside `idempotent`, so that a refusal is
    never stored as the answer to its Idempotency-Key: the same key works once the wait is over."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        user = getattr(g, "user", None)
        wait = seconds_until_next_check(user.name) if user is not None else None
        if wait is not None:
            limit = current_app.config["SETTINGS"].checks_per_minute
            raise ApiError(429, "too_many_requests", f"at most {limit} checks a minute per user; retry in {wait} s",
                           headers={"Retry-After": str(wait)})
        return view(*args, **kwargs)
    return wrapper


@bp.post("/checks")
@rate_limited
@idempotent
def create_check():
    user = getattr(g, "user", None)
    body = json_body()
    check_request = load_or_400(_CHECK_SCHEMA, body, "the request has invalid fields; nothing was stored")
    store = current_app.extensions["store"]
    response = check_regimen(current_app.extensions["engine"], store, check_request, body,
                             user.name if user else None)
    count_findings(response["findings"])  # the audit row is written with the check, in its transaction
    return response, 201, {"Location": f"/api/v1/checks/{response['id']}"}


@bp.get("/checks/<check_id>")
def get_check(check_id: str):
    user = getattr(g, "user", None)
    store = current_app.extensions["store"]
    stored = store.get_check(check_id, requester_scope(user))
    if stored is None:  # not there, or another prescriber's: the same answer, so an id reveals nothing
        raise ApiError(404, "not_found", f"no check {check_id}")
    ReviewStore(store.engine).audit(user.name if user else None, "view_check", f"api:check:{check_id}")
    return stored


@bp.post("/procedure-plans")
def create_procedure_plan():
    """The hold / restart plan for the patient's planned procedures, alone (not stored: nothing is ordered)."""
    body = json_body()
    plan_request = load_or_400(_PLAN_SCHEMA, body, "the request has invalid fields")
    if not plan_request.patient.planned_procedures:
        raise ApiError(400, "validation_failed", "no procedure to plan",
                       {"patient.plannedProcedures": "give at least one planned procedure"})
    return {"asOf": plan_request.as_of.isoformat(),
            "procedures": current_app.extensions["engine"].plan_procedures(plan_request)}
