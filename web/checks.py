"""`POST /api/v1/checks` and `GET /api/v1/checks/{id}` (contract 2.1 and 2.2)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from stewardship.services import check_regimen

from .errors import ApiError
from .idempotency import idempotent
from .observability import count_findings
from .schemas import CheckSchema, ProcedurePlanSchema, field_errors

bp = Blueprint("checks", __name__)
_CHECK_SCHEMA = CheckSchema()  # built once: a marshmallow schema is reusable, and building one deep-copies fields
_PLAN_SCHEMA = ProcedurePlanSchema()


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "validation_failed", "the body must be a JSON object",
                       {"(body)": "expected a JSON object (Content-Type: application/json)"})
    return body


@bp.post("/checks")
@idempotent
def create_check():
    body = json_body()
    try:
        check_request = _CHECK_SCHEMA.load(body)
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the request has invalid fields; nothing was stored",
                       field_errors(error.messages)) from None
    user = getattr(g, "user", None)
    response = check_regimen(current_app.extensions["engine"], current_app.extensions["store"], check_request, body,
                             user.name if user else None)
    count_findings(response["findings"])
    return response, 201, {"Location": f"/api/v1/checks/{response['id']}"}


@bp.get("/checks/<check_id>")
def get_check(check_id: str):
    stored = current_app.extensions["store"].get_check(check_id)
    if stored is None:
        raise ApiError(404, "not_found", f"no check {check_id}")
    return stored


@bp.post("/procedure-plans")
def create_procedure_plan():
    """The hold / restart plan for the patient's planned procedures, alone (not stored: nothing is ordered)."""
    body = json_body()
    try:
        plan_request = _PLAN_SCHEMA.load(body)
    except ValidationError as error:
        raise ApiError(400, "validation_failed", "the request has invalid fields", field_errors(error.messages)) from None
    if not plan_request.patient.planned_procedures:
        raise ApiError(400, "validation_failed", "no procedure to plan",
                       {"patient.plannedProcedures": "give at least one planned procedure"})
    return {"asOf": plan_request.as_of.isoformat(),
            "procedures": current_app.extensions["engine"].plan_procedures(plan_request)}
