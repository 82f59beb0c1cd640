"""Who may call the CDS Hooks services: EHRs on an allow-list, proven by a signed JWT (CDS Hooks 2.0, Trusting
CDS Clients). Checked with PyJWT: the issuer must be configured, the key found by `kid` in its JWK Set (static, or
fetched from its configured jwksUrl), the algorithm asymmetric (`none` and HMAC refused), `aud` the exact URL
called, `exp` and `iat` within 60 s of skew, and `jti` never seen before (kept in the database, so every instance
of the service refuses a replay). Tokens are never logged; a refusal says only its reason code.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jwt
import requests

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
SKEW_SECONDS = 60
JWKS_CACHE_SECONDS = 300


class JwtRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks: dict | None
    jwks_url: str | None


def load_issuers(path: Path | str | None) -> dict[str, TrustedIssuer]:
    """The allow-list from $STEWARDSHIP_CDS_ISSUERS: [{"iss", "jwks": {...}} | {"iss", "jwksUrl"}]."""
    if not path:
        return {}
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    issuers = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("iss") or not (entry.get("jwks") or entry.get("jwksUrl")):
            raise ValueError(f"{path}: entry {index}: needs iss and jwks or jwksUrl")
        issuers[entry["iss"]] = TrustedIssuer(entry["iss"], entry.get("jwks"), entry.get("jwksUrl"))
    return issuers


class JwtVerifier:
    def __init__(self, issuers: dict[str, TrustedIssuer], remember_jti: Callable[[str, str, dt.datetime], bool],
                 fetch_timeout: float = 3.0) -> None:
        self.issuers = issuers
        self.remember_jti = remember_jti  # False when (iss, jti) was seen before
        self.fetch_timeout = fetch_timeout
        self._fetched: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    def verify(self, authorization: str | None, audience: str) -> dict:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise JwtRejected("missing_token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise JwtRejected("malformed_token") from None
        if header.get("alg") not in ALGORITHMS:
            raise JwtRejected("algorithm_not_allowed")
        if header.get("typ", "JWT") != "JWT" or not header.get("kid"):
            raise JwtRejected("malformed_header")
        issuer = self.issuers.get(unverified.get("iss"))
        if issuer is None:
            raise JwtRejected("unknown_issuer")
        key = self._key(issuer, header["kid"])
        try:
            claims = jwt.decode(token, key.key, algorithms=[header["alg"]], audience=audience, issuer=issuer.iss,
                                leeway=SKEW_SECONDS, options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise JwtRejected("token_expired") from None
        except jwt.InvalidAudienceError:
            raise JwtRejected("audience_mismatch") from None
        except jwt.ImmatureSignatureError:
            raise JwtRejected("issued_in_future") from None
        except jwt.InvalidSignatureError:
            raise JwtRejected("bad_signature") from None
        except jwt.PyJWTError:
            raise JwtRejected("invalid_token") from None
        if claims["iat"] > time.time() + SKEW_SECONDS:
            raise JwtRejected("issued_in_future")
        expires = dt.datetime.fromtimestamp(claims["exp"], dt.timezone.utc)
        if not self.remember_jti(issuer.iss, str(claims["jti"]), expires):
            raise JwtRejected("token_replayed")
        return claims

    def _key(self, issuer: TrustedIssuer, kid: str) -> jwt.PyJWK:
        if issuer.jwks is not None:
            keys = jwt.PyJWKSet.from_dict(issuer.jwks)
            return _find(keys, kid)
        cached = self._fetched.get(issuer.iss)
        if cached and time.monotonic() - cached[0] < JWKS_CACHE_SECONDS:
            try:
                return _find(cached[1], kid)
            except JwtRejected:
                pass  # a rotated key: fetch the set again once
        try:
            response = requests.get(issuer.jwks_url, timeout=self.fetch_timeout)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json())
        except (requests.RequestException, ValueError, jwt.PyJWTError):
            log.warning("JWKS of %s could not be fetched", issuer.iss)
            raise JwtRejected("jwks_unavailable") from None
        self._fetched[issuer.iss] = (time.monotonic(), keys)
        return _find(keys, kid)


def _find(keys: jwt.PyJWKSet, kid: str) -> jwt.PyJWK:
    for key in keys.keys:
        if key.key_id == kid:
            return key
    raise JwtRejected("unknown_key")
