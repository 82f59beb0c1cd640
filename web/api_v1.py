"""The native JSON API, `/api/v1`: every route behind a bearer token (contract sections 2 and 5)."""
from __future__ import annotations

from flask import Blueprint, g

from . import auth, checks, drugs, knowledge, reminders, reviews, sweeps

bp = Blueprint("api_v1", __name__)
bp.before_request(auth.require_bearer_token)
bp.register_blueprint(drugs.bp)
bp.register_blueprint(checks.bp)
bp.register_blueprint(reminders.bp)
bp.register_blueprint(reviews.bp)
bp.register_blueprint(knowledge.bp)
bp.register_blueprint(sweeps.bp)


@bp.get("/whoami")
def whoami():
    """The caller as the token says: also the no-op JSON route that `make bench` compares checks against."""
    user = getattr(g, "user", None)
    return {"user": user.name if user else None, "role": user.role if user else None}
