"""Liveness with versions: the service's and the knowledge base's (which facts are in force).

With `STEWARDSHIP_OPS_TOKEN_REQUIRED=on` the versions and the database state, which tell an attacker what to aim
at, are for callers with a valid API token; anyone else (a load balancer's probe) gets the status alone."""
from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

import stewardship

from .auth import require_bearer_token
from .errors import ApiError

bp = Blueprint("health", __name__)


def ops_caller_known() -> bool:
    """Whether the caller may see operational detail: always while the setting is off, else with a valid token."""
    if not current_app.config["SETTINGS"].ops_token_required:
        return True
    if not request.headers.get("Authorization"):
        return False
    try:
        require_bearer_token()
    except ApiError:
        return False
    return True


@bp.get("/healthz")
def healthz():
    try:
        database = "ok" if current_app.extensions["store"].ping() else "failing"
    except SQLAlchemyError:
        database = "unreachable"
    status = 200 if database == "ok" else 503
    body = {"status": "ok" if database == "ok" else "degraded"}
    if ops_caller_known():
        body.update(version=stewardship.__version__, knowledgeBase=current_app.extensions["kb"].version,
                    rules=current_app.extensions["engine"].rulebook.version, database=database)
    return body, status
