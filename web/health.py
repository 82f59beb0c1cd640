"""Liveness with versions: the service's and the knowledge base's (which facts are in force)."""
from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy.exc import SQLAlchemyError

import stewardship

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        database = "ok" if current_app.extensions["store"].ping() else "failing"
    except SQLAlchemyError:
        database = "unreachable"
    body = {"status": "ok" if database == "ok" else "degraded", "version": stewardship.__version__,
            "knowledgeBase": current_app.extensions["kb"].version, "database": database}
    return body, 200 if database == "ok" else 503
