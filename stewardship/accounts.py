"""Accounts and API tokens: who may use the service, and with what role.

Secrets are never stored: passwords as scrypt hashes (RFC 7914, stdlib `hashlib.scrypt`), bearer tokens as the
SHA-256 of their random part (a 256-bit random secret needs no slow hash; the id part makes look-up direct).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Protocol

ROLES = ("prescriber", "pharmacist", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TOKEN_PREFIX = "stw"


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (bad name, unknown user, weak password ...)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    secret_hash: str
    user_name: str


class AccountStore(Protocol):
    def add_user(self, user: User) -> None: ...
    def get_user(self, name: str) -> User | None: ...
    def add_token(self, token: IssuedToken) -> None: ...
    def get_token(self, token_id: str) -> IssuedToken | None: ...


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    encode = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r),
                               p=int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_user(store: AccountStore, name: str, role: str, password: str) -> User:
    if not _NAME.match(name):
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


def create_token(store: AccountStore, user_name: str) -> str:
    """A new bearer token for the user, returned once in clear: `stw_<id>_<secret>`."""
    if store.get_user(user_name) is None:
        raise AccountError(f"no user {user_name!r}")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    store.add_token(IssuedToken(token_id, _secret_hash(secret), user_name))
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def authenticate_token(store: AccountStore, presented: str) -> User | None:
    """The user a bearer token belongs to, or None for anything malformed, unknown or wrong."""
    prefix, _, rest = presented.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not token_id or not secret:
        return None
    issued = store.get_token(token_id)
    if issued is None or not hmac.compare_digest(issued.secret_hash, _secret_hash(secret)):
        return None
    return store.get_user(issued.user_name)
