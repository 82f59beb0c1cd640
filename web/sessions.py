"""Sign-in for people: server-side sessions, CSRF tokens, role guards, rate limits and security headers.

A signed-in browser's cookie (Flask's signed cookie) carries only a random session id; the `web_sessions` table
keeps its SHA-256 with the user, the sign-in time, the last use and the end, so a session can be ended on the
server: by sign-out (a copied cookie stops working too), by an admin (`stewardship users sign-out`, disabling the
user), after 12 hours, or after STEWARDSHIP_SESSION_IDLE_MINUTES without use (issue 13, item 7). The user and role
are read from the database on every request, so a removed or disabled account is out at once.

CSRF: a signed-in session's form token is an HMAC of its id under the app's key, so it ends with the session; before
sign-in, the cookie carries a random token for the sign-in form.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from stewardship.accounts import User, hash_password, new_session_id, session_hash, valid_name, verify_password

SESSION_LIFETIME = dt.timedelta(hours=12)  # one working day: then sign in again, however busy the session
TOUCH_EVERY = dt.timedelta(minutes=1)  # a session's last use is written at most this often: no write per page
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


def recorded(typed: str) -> str:
    """Typed text (a user name, an address) as it may be counted, stored and logged: unprintable characters escaped,
    so that a CR/LF cannot forge a line of an exported log, and cut to the 64 characters of its columns."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in typed)[:64]


def authenticate(name: str, password: str) -> User | None:
    """The enabled user with this name and password, or None. The password is checked in the same time whether or
    not the user exists, so timing does not reveal names."""
    user = current_app.extensions["store"].get_user(name) if valid_name(name) else None
    matches = verify_password(password, user.password_hash if user else _decoy_hash())
    return user if matches and user is not None and not user.disabled else None


def start_session(user: User) -> None:
    """A new server-side session, its id in the otherwise emptied cookie (a fresh CSRF token at every sign-in);
    a session this browser still had ends."""
    end_session()
    session_id, id_hash = new_session_id()
    current_app.extensions["store"].add_web_session(id_hash, user.name)
    session["sid"] = session_id


def end_session() -> None:
    """Sign-out: the session ends on the server, so a copy of the cookie stops working too."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        current_app.extensions["store"].end_web_session(session_hash(session_id))
    session.clear()


def load_person() -> None:
    """`before_request`: `g.person` is the signed-in user, or None: no session, or one ended, older than 12 hours,
    idle longer than STEWARDSHIP_SESSION_IDLE_MINUTES, or of a disabled or removed user."""
    g.person = None
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return
    store = current_app.extensions["store"]
    id_hash = session_hash(session_id)
    stored = store.get_web_session(id_hash)
    now = dt.datetime.now(dt.timezone.utc)
    idle = dt.timedelta(minutes=current_app.config["SETTINGS"].session_idle_minutes)
    if stored is None or stored["revoked_at"] is not None or now - stored["created_at"] > SESSION_LIFETIME \
            or now - stored["last_seen_at"] > idle:
        session.clear()
        return
    user = store.get_user(stored["user_name"])
    if user is None or user.disabled:
        session.clear()
        return
    if now - stored["last_seen_at"] > TOUCH_EVERY:
        store.touch_web_session(id_hash)
    g.person = user


def _session_csrf(session_id: str) -> str:
    return hmac.new(current_app.secret_key.encode(), b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """The form token: bound to the signed-in session, else a random one kept in the cookie for the sign-in form."""
    if g.get("person") is not None:
        return _session_csrf(session["sid"])
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def require_csrf() -> None:
    """`before_request` (after `load_person`): every form post carries the session's CSRF token (a hidden input)."""
    if request.method != "POST":
        return
    expected = _session_csrf(session["sid"]) if g.person is not None else session.get("csrf")
    sent = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(400, "The form could not be accepted: its security token is missing or out of date. "
                   "Go back, reload the page and send it again.")


def safe_next(target: str | None) -> str | None:
    """A path on this site to return to after sign-in, else None (the default page). Browsers read `//host`, `/\\host`
    and a path whose tab, CR or LF they drop (`/<TAB>/host`) as another site, and a CR/LF cannot go into a
    Location header at all (it was a 500), so `next` must start with one `/`, hold no backslash, whitespace or
    control character, and parse without scheme or host, both as sent and percent-decoded once more (issue 13,
    items 5 and 13)."""
    if not target:
        return None
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form \
                or any(ch.isspace() or not ch.isprintable() for ch in form):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
    return target


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
