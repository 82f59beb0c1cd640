"""The native JSON API, `/api/v1`: every route behind a bearer token (contract sections 2 and 5)."""
from __future__ import annotations

from flask import Blueprint

from . import auth, checks, drugs

bp = Blueprint("api_v1", __name__)
bp.before_request(auth.require_bearer_token)
bp.register_blueprint(drugs.bp)
bp.register_blueprint(checks.bp)
