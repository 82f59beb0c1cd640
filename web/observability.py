"""What operators see: one JSON log line per request with a request id (and no patient data beyond ids), and
Prometheus metrics at /metrics: request latency by route, findings by code and severity, overrides by code.

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR to an empty folder (`make serve` does) so that
/metrics sums every worker; without it each process reports its own counts. With STEWARDSHIP_OPS_TOKEN_REQUIRED=on
/metrics needs a valid API token (the same bearer token as the API).
"""
from __future__ import annotations

import collections
import json
import logging
import os
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from .auth import require_bearer_token

REQUEST_SECONDS = Histogram("stewardship_request_seconds", "Request latency by route", ["method", "route", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FINDINGS = Counter("stewardship_findings_total", "Findings returned, by code and severity", ["code", "severity"])
OVERRIDES = Counter("stewardship_overrides_total", "CDS Hooks cards overridden, by finding code", ["code"])

log = logging.getLogger("stewardship.requests")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    """JSON lines on stderr for the service's own loggers (once per process)."""
    root = logging.getLogger("stewardship")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


# (code, severity) -> its counter: a label look-up validates the labels and takes a lock, so it is done once per
# pair a process sees (the rulebook's codes: a few hundred pairs at most), not once per finding of every check.
_FINDING_COUNTERS: dict[tuple[str, str], Any] = {}


def count_findings(findings: list[dict]) -> None:
    for pair, count in collections.Counter((f["code"], f["severity"]) for f in findings).items():
        counter = _FINDING_COUNTERS.get(pair)
        if counter is None:
            counter = _FINDING_COUNTERS[pair] = FINDINGS.labels(*pair)
        counter.inc(count)


def init_app(app: Flask) -> None:
    if not app.config.get("TESTING"):
        configure_logging()

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "(unmatched)"
        REQUEST_SECONDS.labels(request.method, route, str(response.status_code)).observe(elapsed)
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        user = getattr(g, "user", None)
        # ids only: the route pattern (no patient values in paths), the user name, never bodies or tokens
        log.info("request", extra={"fields": {
            "requestId": getattr(g, "request_id", None), "method": request.method, "route": route,
            "status": response.status_code, "ms": round(elapsed * 1000, 2),
            "user": getattr(user, "name", None)}})
        return response

    @app.after_request
    def _no_sniffing(response: Response) -> Response:
        # every answer, JSON and errors included: a browser must never guess a type and run an echoed value
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if current_app.config["SETTINGS"].ops_token_required:
            require_bearer_token()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
