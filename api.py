"""The app factory: wires settings, storage, knowledge base and blueprints. Nothing is created at import time."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from adapters.cds_auth import JwtVerifier, load_issuers
from adapters.rxnav import RxNavClient
from adapters.storage import SqlStore, make_engine
from settings import VAR, Settings
from stewardship import knowledge
from stewardship.engine import Engine
from stewardship.rulebook import load_rulebook
from stewardship.terminology import Resolver
from web import api_v1, cds_hooks, errors, health, input_guard, observability, openapi, pages, sessions
from web.cds_cards import load_cds_config
from web.json_provider import FastJSONProvider

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 2 * 1024 * 1024  # a check of 100 + 100 lines is far below this; larger bodies are refused early


@lru_cache(maxsize=4)
def _knowledge_base(path: Path) -> knowledge.KnowledgeBase:
    return knowledge.load(path)  # read-only after load: one copy per process serves every app


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(SETTINGS=settings, TESTING=settings.testing, JSON_SORT_KEYS=False,
                      MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.json = FastJSONProvider(app)
    app.json.sort_keys = False
    app.config.update(SECRET_KEY=sessions.secret_key(settings.secret_key, VAR / "secret-key"),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.session_interface = sessions.HttpsAwareSessions()
    if settings.trusted_proxies > 0:
        # Behind N proxies, the client is the Nth X-Forwarded-For entry from the right (each proxy appends the
        # address it saw); entries further left are the client's own words. Sign-in lock-outs count per client
        # address, and the cookie is Secure when the client used https.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)

    kb = _knowledge_base(Path(settings.drugdata))
    remote = RxNavClient(settings.rxnav_url, settings.rxnav_timeout, settings.rxnav_cache) \
        if settings.rxnav_url else None
    resolver = Resolver(kb, remote)
    app.extensions["kb"] = kb
    app.extensions["resolver"] = resolver
    app.extensions["engine"] = Engine(kb, resolver, load_rulebook(kb, settings.config_dir, settings.rules_override))
    app.extensions["store"] = store = SqlStore(make_engine(settings.database_url))
    app.extensions["cds"] = load_cds_config(Path(settings.config_dir) / "cds_hooks.yaml")
    issuers = load_issuers(settings.cds_issuers)
    if issuers and not settings.public_url:
        # The audience a token must carry is this service's own URL; taken from the Host header, a caller would
        # choose it (issue 13, item 14).
        raise ValueError("STEWARDSHIP_PUBLIC_URL is required when STEWARDSHIP_CDS_ISSUERS is set")
    app.extensions["cds_verifier"] = JwtVerifier(issuers, store.remember_jti)

    errors.init_app(app)
    observability.init_app(app)  # first: the request id and its timing cover every check after it
    input_guard.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(api_v1.bp, url_prefix=API_PREFIX)
    app.register_blueprint(pages.bp)
    app.register_blueprint(cds_hooks.bp)
    return app
