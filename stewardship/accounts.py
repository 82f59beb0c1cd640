"""Accounts, API tokens and web sessions: who may use the service, with what role, and until when.

Secrets are never stored: passwords as scrypt hashes made and checked by werkzeug's maintained `security` module
(hashes written by earlier versions, `scrypt$n$r$p$salt$digest`, are still verified), bearer tokens as the
SHA-256 of their random part (a 256-bit random secret needs no slow hash; the id part makes look-up direct), web
session ids as their SHA-256 too. An admin can disable a user, which ends its sessions and revokes its tokens at
once, revoke tokens, end sessions, and give a token an expiry (issue 13, item 11).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("prescriber", "pharmacist", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
PASSWORD_METHOD = "scrypt:32768:8:1"  # werkzeug's default scrypt work factor (N=2^15, r=8, p=1)
TOKEN_PREFIX = "stw"
MAX_TOKEN_DAYS = 3650  # an expiry further away is no expiry; and the date must stay representable


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (bad name, unknown user, weak password ...)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    disabled: bool = False


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    secret_hash: str
    user_name: str
    expires_at: dt.datetime | None = None  # aware, UTC
    revoked_at: dt.datetime | None = None
    created_at: dt.datetime | None = None

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class AccountStore(Protocol):
    def add_user(self, user: User) -> None: ...
    def get_user(self, name: str) -> User | None: ...
    def set_user_disabled(self, name: str, disabled: bool) -> None: ...
    def add_token(self, token: IssuedToken) -> None: ...
    def get_token(self, token_id: str) -> IssuedToken | None: ...
    def token_holder(self, token_id: str) -> tuple[IssuedToken, User] | None: ...
    def list_tokens(self, user_name: str) -> list[IssuedToken]: ...
    def revoke_tokens(self, user_name: str, token_id: str | None = None) -> int: ...
    def end_web_sessions(self, user_name: str) -> int: ...


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))  # `match` and `$` would let a trailing newline through


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=PASSWORD_METHOD)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_legacy_scrypt(password, stored)
    try:
        return check_password_hash(stored, password)
    except ValueError:  # an unknown or damaged hash format is a failed sign-in, not an error
        return False


def _verify_legacy_scrypt(password: str, stored: str) -> bool:
    """Hashes written before werkzeug's were used: `scrypt$n$r$p$base64 salt$base64 digest` (hashlib.scrypt)."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r),
                                   p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_session_id() -> tuple[str, str]:
    """A web session id for the cookie (256 random bits) and the hash that is all the database keeps of it."""
    session_id = secrets.token_urlsafe(32)
    return session_id, session_hash(session_id)


def session_hash(session_id: str) -> str:
    return _secret_hash(session_id)


def _existing_user(store: AccountStore, name: str) -> User:
    user = store.get_user(name)
    if user is None:
        raise AccountError(f"no user {name!r}")
    return user


def add_user(store: AccountStore, name: str, role: str, password: str) -> User:
    if not valid_name(name):
        raise AccountError(f"user name {name!r}: 2-64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise AccountError("password: at least 8 characters")
    if store.get_user(name) is not None:
        raise AccountError(f"user {name!r} exists already")
    user = User(name, role, hash_password(password))
    store.add_user(user)
    return user


def set_disabled(store: AccountStore, name: str, disabled: bool) -> None:
    """Disable a user (it cannot sign in; its sessions end and its tokens are revoked, in one transaction) or
    enable it again (its old sessions and tokens stay ended: new ones are needed)."""
    _existing_user(store, name)
    store.set_user_disabled(name, disabled)


def end_sessions(store: AccountStore, name: str) -> int:
    """End every web session of the user now (a stolen cookie included); the number ended."""
    _existing_user(store, name)
    return store.end_web_sessions(name)


def create_token(store: AccountStore, user_name: str, expires_in_days: int | None = None) -> str:
    """A new bearer token for the user, returned once in clear: `stw_<id>_<secret>`; with `expires_in_days`, it is
    refused from that many days on."""
    if _existing_user(store, user_name).disabled:
        raise AccountError(f"user {user_name!r} is disabled")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise AccountError(f"expiry: 1 to {MAX_TOKEN_DAYS} days")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = _now() + dt.timedelta(days=expires_in_days) if expires_in_days is not None else None
    store.add_token(IssuedToken(token_id, _secret_hash(secret), user_name, expires_at))
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def revoke_tokens(store: AccountStore, user_name: str, token_id: str | None = None) -> int:
    """Revoke every token of the user, or the one with this id (the part after `stw_`); the number revoked. An id
    of another user's token is an error, not a silent no-op."""
    _existing_user(store, user_name)
    if token_id is not None:
        issued = store.get_token(token_id)
        if issued is None or issued.user_name != user_name:
            raise AccountError(f"user {user_name!r} has no token {token_id!r}")
    return store.revoke_tokens(user_name, token_id)


def list_tokens(store: AccountStore, user_name: str) -> list[IssuedToken]:
    _existing_user(store, user_name)
    return store.list_tokens(user_name)


def authenticate_token(store: AccountStore, presented: str) -> User | None:
    """The user a bearer token belongs to, or None for anything malformed, unknown, wrong, revoked or expired, or
    a disabled user's."""
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not token_id or not secret:
        return None
    found = store.token_holder(token_id)  # the token and its user in one look-up: every API call makes it
    if found is None:
        return None
    issued, user = found
    if not hmac.compare_digest(issued.secret_hash, _secret_hash(secret)) or not issued.usable(_now()):
        return None
    return None if user.disabled else user
