"""Settings, read from the environment with safe defaults (the microblog `Config` pattern).

| variable | default | meaning |
| --- | --- | --- |
| STEWARDSHIP_DATABASE_URL | sqlite:///<project>/var/stewardship.sqlite3 | SQLAlchemy URL; `postgresql+psycopg://...` in production |
| STEWARDSHIP_AUTH | on | `off` opens the API without tokens: local development only, never the default |
| STEWARDSHIP_DRUGDATA | <project>/drugdata | the knowledge base to load |
| STEWARDSHIP_CONFIG | <project>/config | site configuration (rule switches) |
| STEWARDSHIP_RULES | (unset) | a YAML file overriding single rule settings, e.g. switching a rule off |
| STEWARDSHIP_RXNAV_URL | (unset: offline only) | base URL of an RxNav REST server, asked for codes the offline subset lacks |
| STEWARDSHIP_RXNAV_TIMEOUT | 3 | seconds per RxNav request |
| STEWARDSHIP_RXNAV_CACHE | <project>/var/rxnav-cache.sqlite3 | persistent cache of RxNav answers |
| STEWARDSHIP_PUBLIC_URL | (the URL a request came in on) | this service's public URL |
| STEWARDSHIP_SECRET_KEY | (a random key kept in <project>/var/secret-key) | signs the web pages' session cookies |
| STEWARDSHIP_CDS_ISSUERS | (unset: hook calls refused) | JSON file of the EHRs trusted to call the CDS Hooks services |
| STEWARDSHIP_FHIR_TIMEOUT | 2 | seconds per request to an EHR's FHIR server |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent
VAR = PROJECT_ROOT / "var"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{VAR / 'stewardship.sqlite3'}"
    auth: bool = True
    drugdata: Path = PROJECT_ROOT / "drugdata"
    config_dir: Path = PROJECT_ROOT / "config"
    rules_override: Path | None = None
    rxnav_url: str | None = None
    rxnav_timeout: float = 3.0
    rxnav_cache: Path = VAR / "rxnav-cache.sqlite3"
    public_url: str | None = None
    secret_key: str | None = None
    cds_issuers: Path | None = None
    fhir_timeout: float = 2.0
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
            cds_issuers=Path(env["STEWARDSHIP_CDS_ISSUERS"]) if env.get("STEWARDSHIP_CDS_ISSUERS") else None,
            fhir_timeout=float(env.get("STEWARDSHIP_FHIR_TIMEOUT") or base.fhir_timeout),
        )
