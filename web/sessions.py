"""Sign-in for people: the session cookie, CSRF tokens, role guards, rate limits and security headers.

Flask's signed-cookie session holds the user's name, the sign-in time and the CSRF token; the user and role are
read from the database on every request, so a removed account is out at once.
"""
from __future__ import annotations

import datetime as dt
import functools
import hmac
import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from stewardship.accounts import User, hash_password, verify_password

SESSION_HOURS = 12  # one working day: then sign in again
SIGNIN_WINDOW = dt.timedelta(minutes=15)
MAX_USER_FAILURES = 5  # per user name within the window, since their last success
MAX_IP_FAILURES = 20  # per address within the window: one address trying many names
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


def secret_key(configured: str | None, key_file: Path) -> str:
    """STEWARDSHIP_SECRET_KEY when set, else a random key kept in `key_file` so that sessions survive a restart
    and every worker process signs with the same key. The file is created once, readable by its owner only."""
    if configured:
        return configured
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()  # another worker (or an earlier run) made it
    with os.fdopen(descriptor, "w") as out:
        key = secrets.token_urlsafe(48)
        out.write(key)
    return key


class HttpsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is HttpOnly and SameSite=Lax (app config), and Secure whenever the request came over
    https, so the same deployment works on plain http locally without sending the cookie in clear in production."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def password_matches(user: User | None, password: str) -> bool:
    """Checks a password in the same time whether or not the user exists, so timing does not reveal names."""
    return verify_password(password, user.password_hash if user else _decoy_hash()) and user is not None


def start_session(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token) at every sign-in
    session["user"] = user.name
    session["since"] = dt.datetime.now(dt.timezone.utc).isoformat()
    session["csrf"] = secrets.token_urlsafe(32)


def load_person() -> None:
    """`before_request`: `g.person` is the signed-in user, or None (also when the session is too old)."""
    g.person = None
    name, since = session.get("user"), session.get("since")
    if not name or not since:
        return
    if dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(since) > dt.timedelta(hours=SESSION_HOURS):
        session.clear()
        return
    g.person = current_app.extensions["store"].get_user(name)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def require_csrf() -> None:
    """`before_request`: every form post carries the session's CSRF token (a hidden input)."""
    if request.method != "POST":
        return
    expected, sent = session.get("csrf"), request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, "The form could not be accepted: its security token is missing or out of date. "
                   "Go back, reload the page and send it again.")


def safe_next(target: str | None) -> str | None:
    """A local path to return to after sign-in, never another site (`//evil.example` is a host, not a path)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def signed_in(*roles: str) -> Callable:
    """View decorator: sign-in required (redirect to it), and one of `roles` when given (403 page otherwise)."""
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if g.person is None:
                return redirect(url_for("pages.signin", next=request.full_path.rstrip("?")))
            if roles and g.person.role not in roles:
                abort(403, f"This page is for the roles {' and '.join(roles)}; you are signed in as a "
                           f"{g.person.role}.")
            return view(*args, **kwargs)
        return guarded
    return decorate


def security_headers(response: Response) -> Response:
    """`after_request`: no framing, no sniffing, no inline script, no patient data in caches or referrers."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype in ("text/html", "application/json"):
        response.headers["Cache-Control"] = "no-store"
    return response
