"""Settings, read from the environment with safe defaults (the microblog `Config` pattern).

| variable | default | meaning |
| --- | --- | --- |
| STEWARDSHIP_VAR | ./var (of the working folder) | where the service writes: SQLite database, secret key, caches |
| STEWARDSHIP_DATABASE_URL | sqlite:///<var>/stewardship.sqlite3 | SQLAlchemy URL; `postgresql+psycopg://...` in production |
| STEWARDSHIP_AUTH | on | `off` opens the API without tokens: local development only, never the default |
| STEWARDSHIP_DRUGDATA | <project>/drugdata | the knowledge base to load |
| STEWARDSHIP_CONFIG | <project>/config | site configuration (rule switches) |
| STEWARDSHIP_RULES | (unset) | a YAML file overriding single rule settings, e.g. switching a rule off |
| STEWARDSHIP_RXNAV_URL | (unset: offline only) | base URL of an RxNav REST server, asked for codes the offline subset lacks |
| STEWARDSHIP_RXNAV_TIMEOUT | 3 | seconds per RxNav request |
| STEWARDSHIP_RXNAV_CACHE | <project>/var/rxnav-cache.sqlite3 | persistent cache of RxNav answers |
| STEWARDSHIP_PUBLIC_URL | (the URL a request came in on) | this service's public URL |
| STEWARDSHIP_SECRET_KEY | (a random key kept in <project>/var/secret-key) | signs the web pages' session cookies |
| STEWARDSHIP_SESSION_IDLE_MINUTES | 30 | a web session unused this long ends (besides its 12 hours) |
| STEWARDSHIP_TRUSTED_PROXIES | 0 | reverse proxies in front whose X-Forwarded-For/-Proto are believed; 0: none |
| STEWARDSHIP_CDS_ISSUERS | (unset: hook calls refused) | JSON file of the EHRs trusted to call the CDS Hooks services |
| STEWARDSHIP_FHIR_TIMEOUT | 2 | seconds per request to an EHR's FHIR server |
| STEWARDSHIP_CHECKS_PER_MINUTE | 60 | checks one user may make per minute (API and form; EHR hook calls are not counted); 0: no limit |
| STEWARDSHIP_OPS_TOKEN_REQUIRED | off | `on`: /metrics and the detailed /healthz need a valid API token |
| STEWARDSHIP_FHIR_BUDGET | 5 | seconds for all the FHIR requests of one hook call together |
| STEWARDSHIP_FHIR_MAX_BYTES | 8388608 | bytes read from an EHR's FHIR server in one hook call, at most |
| STEWARDSHIP_DECISION_WEBHOOK_URL | (unset: no webhook) | http(s) URL POSTed each decision (webhooks deliver) |
| STEWARDSHIP_DECISION_WEBHOOK_SECRET | (required with the URL) | HMAC-SHA256 key signing those POSTs; 32 characters or more |
"""
from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping


def packaged(package: str) -> Path:
    """A data folder that travels with the code as a package of its own (drugdata, config, migrations, deploy):
    the source tree's folder in a checkout, the installed copy after `pip install .`, read through
    importlib.resources so that the service runs from any working folder."""
    return Path(str(importlib.resources.files(package)))


# What the service writes (SQLite database, secret key, caches): never inside the installed code.
VAR = Path(os.environ.get("STEWARDSHIP_VAR") or "var").resolve()
MIN_WEBHOOK_SECRET = 32  # characters: 128 bits and more as hex or base64


def _whole_number(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = int(env.get(name) or default)
    if value < minimum:
        raise ValueError(f"{name} must be {minimum} or more, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{VAR / 'stewardship.sqlite3'}"
    auth: bool = True
    drugdata: Path = field(default_factory=lambda: packaged("drugdata"))
    config_dir: Path = field(default_factory=lambda: packaged("config"))
    rules_override: Path | None = None
    rxnav_url: str | None = None
    rxnav_timeout: float = 3.0
    rxnav_cache: Path = VAR / "rxnav-cache.sqlite3"
    public_url: str | None = None
    secret_key: str | None = None
    session_idle_minutes: int = 30
    # X-Forwarded-* are believed from exactly this many proxies (werkzeug ProxyFix): with 0 a client could
    # otherwise choose the address its sign-in failures are counted under (issue 13, item 8)
    trusted_proxies: int = 0
    cds_issuers: Path | None = None
    fhir_timeout: float = 2.0
    fhir_budget: float = 5.0
    fhir_max_bytes: int = 8 * 1024 * 1024
    checks_per_minute: int = 60
    ops_token_required: bool = False
    # how long a population sweep's run holds the sweep without renewing (it renews every fifth of it): a run that
    # died lets the next one start after this
    sweep_hold_seconds: int = 300
    decision_webhook_url: str | None = None
    decision_webhook_secret: str | None = field(default=None, repr=False)
    testing: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        base = cls()
        return replace(
            base,
            database_url=env.get("STEWARDSHIP_DATABASE_URL") or base.database_url,
            auth=env.get("STEWARDSHIP_AUTH", "on").strip().lower() not in ("off", "0", "false", "no"),
            drugdata=Path(env.get("STEWARDSHIP_DRUGDATA") or base.drugdata),
            config_dir=Path(env.get("STEWARDSHIP_CONFIG") or base.config_dir),
            rules_override=Path(env["STEWARDSHIP_RULES"]) if env.get("STEWARDSHIP_RULES") else None,
            rxnav_url=env.get("STEWARDSHIP_RXNAV_URL") or None,
            rxnav_timeout=float(env.get("STEWARDSHIP_RXNAV_TIMEOUT") or base.rxnav_timeout),
            rxnav_cache=Path(env.get("STEWARDSHIP_RXNAV_CACHE") or base.rxnav_cache),
            public_url=env.get("STEWARDSHIP_PUBLIC_URL") or None,
            secret_key=env.get("STEWARDSHIP_SECRET_KEY") or None,
            session_idle_minutes=_whole_number(env, "STEWARDSHIP_SESSION_IDLE_MINUTES", base.session_idle_minutes, 1),
            trusted_proxies=_whole_number(env, "STEWARDSHIP_TRUSTED_PROXIES", base.trusted_proxies, 0),
            cds_issuers=Path(env["STEWARDSHIP_CDS_ISSUERS"]) if env.get("STEWARDSHIP_CDS_ISSUERS") else None,
            fhir_timeout=float(env.get("STEWARDSHIP_FHIR_TIMEOUT") or base.fhir_timeout),
            checks_per_minute=int(env.get("STEWARDSHIP_CHECKS_PER_MINUTE") or base.checks_per_minute),
            ops_token_required=env.get("STEWARDSHIP_OPS_TOKEN_REQUIRED", "off").strip().lower() in ("on", "1", "true",
                                                                                                      "yes"),
            fhir_budget=float(env.get("STEWARDSHIP_FHIR_BUDGET") or base.fhir_budget),
            fhir_max_bytes=int(env.get("STEWARDSHIP_FHIR_MAX_BYTES") or base.fhir_max_bytes),
            sweep_hold_seconds=_whole_number(env, "STEWARDSHIP_SWEEP_HOLD_SECONDS", base.sweep_hold_seconds, 1),
            decision_webhook_url=env.get("STEWARDSHIP_DECISION_WEBHOOK_URL") or None,
            decision_webhook_secret=env.get("STEWARDSHIP_DECISION_WEBHOOK_SECRET") or None,
        )

    def __post_init__(self) -> None:
        # a webhook is signed or not sent: a receiver must be able to tell a decision from a forgery
        if self.decision_webhook_url is None:
            return
        if not self.decision_webhook_url.startswith(("https://", "http://")):
            raise ValueError("STEWARDSHIP_DECISION_WEBHOOK_URL must be an http:// or https:// URL")
        if len(self.decision_webhook_secret or "") < MIN_WEBHOOK_SECRET:
            raise ValueError(f"STEWARDSHIP_DECISION_WEBHOOK_SECRET of {MIN_WEBHOOK_SECRET} characters or more is "
                             "required with STEWARDSHIP_DECISION_WEBHOOK_URL")
