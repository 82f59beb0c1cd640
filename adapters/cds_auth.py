"""Who may call the CDS Hooks services: EHRs on an allow-list, proven by a signed JWT (CDS Hooks 2.0, Trusting
CDS Clients). Checked with PyJWT: the issuer must be configured, the key found by `kid` in its JWK Set (static, or
fetched from its configured jwksUrl, refetched for an unknown `kid` at most once a minute), the algorithm
asymmetric (`none` and HMAC refused), `aud` the exact URL called, `exp` and `iat` within 60 s of skew, a lifetime
(`exp - iat`) of at most five minutes as CDS Hooks expects of these short-lived tokens, and `jti` never seen before
(kept in the database, so every instance of the service refuses a replay). Tokens are never logged; a refusal is
logged with its reason code and answered without it, so a caller cannot enumerate issuers or keys.

Each issuer also names the FHIR base URLs it may send as a hook's `fhirServer` (`fhirServers`): the service
contacts no other server with that EHR's access token (issue 13: SSRF). Only https, except http to a loopback
address where the entry says `allowHttpLoopback` (development and tests).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import jwt

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
SKEW_SECONDS = 60
MAX_LIFETIME_SECONDS = 300  # CDS Hooks: "a short-lived JWT", the specification's example lives five minutes
JWKS_CACHE_SECONDS = 300
JWKS_REFETCH_SECONDS = 60  # an unknown kid refetches the issuer's key set at most this often (no fetch amplifier)


class JwtRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks: dict | None
    jwks_url: str | None
    fhir_servers: tuple[str, ...] = ()  # base URLs without a trailing slash
    allow_http_loopback: bool = False

    def allows_fhir_server(self, url: str) -> str | None:
        """The configured base URL that `url` names (equal to it, or it followed by `/`), else None."""
        return next((base for base in self.fhir_servers if url in (base, base + "/")), None)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fhir_base(url: object, allow_http_loopback: bool, where: str) -> str:
    if not isinstance(url, str):
        raise ValueError(f"{where}: a FHIR base URL is a string")
    parts = urlsplit(url)
    if parts.scheme == "http" and not (allow_http_loopback and is_loopback(parts.hostname)):
        raise ValueError(f"{where}: {url} is plain http; only https (http to a loopback address needs "
                         "allowHttpLoopback)")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ValueError(f"{where}: {url} is not an https base URL without query, fragment or credentials")
    return url.rstrip("/")


def load_issuers(path: Path | str | None) -> dict[str, TrustedIssuer]:
    """The allow-list from $STEWARDSHIP_CDS_ISSUERS: [{"iss", "jwks": {...} | "jwksUrl", "fhirServers": [...],
    "allowHttpLoopback": false}]. A wrong entry stops start-up, naming it."""
    if not path:
        return {}
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    issuers = {}
    for index, entry in enumerate(entries):
        where = f"{path}: entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str) or not entry["iss"] \
                or not (entry.get("jwks") or entry.get("jwksUrl")):
            raise ValueError(f"{where}: needs iss and jwks or jwksUrl")
        loopback = entry.get("allowHttpLoopback", False)
        if not isinstance(loopback, bool):
            raise ValueError(f"{where}: allowHttpLoopback is true or false")
        servers = entry.get("fhirServers", [])
        if not isinstance(servers, list):
            raise ValueError(f"{where}: fhirServers is a list of FHIR base URLs")
        if entry.get("jwksUrl"):
            _fhir_base(entry["jwksUrl"], loopback, f"{where}: jwksUrl")  # the same rule: https, or loopback http
        issuers[entry["iss"]] = TrustedIssuer(
            entry["iss"], entry.get("jwks"), entry.get("jwksUrl"),
            tuple(_fhir_base(url, loopback, f"{where}: fhirServers") for url in servers), loopback)
    return issuers


class JwtVerifier:
    def __init__(self, issuers: dict[str, TrustedIssuer], remember_jti: Callable[[str, str, dt.datetime], bool],
                 fetch_timeout: float = 3.0) -> None:
        self.issuers = issuers
        self.remember_jti = remember_jti  # False when (iss, jti) was seen before
        self.fetch_timeout = fetch_timeout
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._inline: dict[str, jwt.PyJWKSet] = {}  # the key sets written in the trust file, by issuer

    def verify(self, authorization: str | None, audience: str) -> tuple[TrustedIssuer, dict]:
        """(the issuer, the token's claims); JwtRejected with a reason code for anything else."""
        try:
            return self._verify(authorization, audience)
        except JwtRejected:
            raise
        except Exception:  # noqa: BLE001 - a token no check foresaw (odd key types, odd claims) is refused, never a 500
            log.exception("CDS client token could not be checked")
            raise JwtRejected("invalid_token") from None

    def _verify(self, authorization: str | None, audience: str) -> tuple[TrustedIssuer, dict]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise JwtRejected("missing_token")
        token = token.strip()
        try:  # header and claims read in one pass, for the issuer and key to verify them with
            unread = jwt.decode_complete(token, options={"verify_signature": False})
            header, unverified = unread["header"], unread["payload"]
        except jwt.PyJWTError:
            raise JwtRejected("malformed_token") from None
        if header.get("alg") not in ALGORITHMS:
            raise JwtRejected("algorithm_not_allowed")
        if header.get("typ", "JWT") != "JWT" or not header.get("kid"):
            raise JwtRejected("malformed_header")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
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
        except (jwt.PyJWTError, ValueError, TypeError):
            raise JwtRejected("invalid_token") from None
        issued, expires_at, jti = claims["iat"], claims["exp"], claims["jti"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (issued, expires_at)):
            raise JwtRejected("invalid_token")
        if issued > time.time() + SKEW_SECONDS:
            raise JwtRejected("issued_in_future")
        if expires_at - issued > MAX_LIFETIME_SECONDS:
            raise JwtRejected("lifetime_too_long")
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:  # the jwt_seen column holds 200 characters
            raise JwtRejected("invalid_jti")
        expires = dt.datetime.fromtimestamp(expires_at, dt.timezone.utc)
        if not self.remember_jti(issuer.iss, jti, expires):
            raise JwtRejected("token_replayed")
        return issuer, claims

    def _key(self, issuer: TrustedIssuer, kid: str) -> jwt.PyJWK:
        if issuer.jwks is not None:
            keys = self._inline.get(issuer.iss)
            if keys is None:  # parsed once: building the public keys cost as much as verifying a signature
                keys = self._inline[issuer.iss] = jwt.PyJWKSet.from_dict(issuer.jwks)
            return _find(keys, kid)
        client = self._clients.get(issuer.iss)
        if client is None:
            # PyJWT's maintained JWKS client: the set is cached for JWKS_CACHE_SECONDS, and an unknown kid forces a
            # refetch at most once per JWKS_REFETCH_SECONDS (its cooldown), so unknown kids cannot make us hammer
            # the issuer's key endpoint.
            client = jwt.PyJWKClient(issuer.jwks_url, lifespan=JWKS_CACHE_SECONDS, timeout=self.fetch_timeout,
                                     cooldown_duration=JWKS_REFETCH_SECONDS)
            self._clients[issuer.iss] = client
        try:
            return client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            log.warning("JWKS of %s could not be fetched", issuer.iss)
            raise JwtRejected("jwks_unavailable") from None
        except jwt.PyJWKClientError:
            raise JwtRejected("unknown_key") from None


def _find(keys: jwt.PyJWKSet, kid: str) -> jwt.PyJWK:
    for key in keys.keys:
        if key.key_id == kid:
            return key
    raise JwtRejected("unknown_key")
