"""Bearer-token authentication for the JSON API. Closed by default; `STEWARDSHIP_AUTH=off` opens it locally."""
from __future__ import annotations

from flask import current_app, g, request

from stewardship.accounts import authenticate_token

from .errors import ApiError


def require_bearer_token() -> None:
    """`before_request` hook: the caller must present a valid bearer token (unless auth is off)."""
    if not current_app.config["SETTINGS"].auth:
        g.user = None
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' (stewardship tokens create)",
                       headers={"WWW-Authenticate": 'Bearer realm="stewardship"'})
    user = authenticate_token(current_app.extensions["store"], token.strip())
    if user is None:
        raise ApiError(401, "unauthorized", "the bearer token is not valid",
                       headers={"WWW-Authenticate": 'Bearer realm="stewardship", error="invalid_token"'})
    g.user = user
