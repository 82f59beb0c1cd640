"""Bad input, generated: schemathesis walks /openapi.json. No 5xx, and every 400 says what was wrong. Bounded in
examples so that `make test` stays quick (the engine's own fuzzing is in tests/unit/test_engine_fuzz.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from api import create_app


@pytest.fixture
def open_app(settings):
    app = create_app(replace(settings, auth=False))
    yield app
    app.extensions["store"].engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_never_answers_5xx_to_generated_requests(open_app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", open_app)
    failures, calls = [], []
    for operation in schema.get_all_operations():
        operation = operation.ok()
        if operation.path.startswith("/cds-services") or operation.path == "/metrics":
            continue  # the hooks are fuzzed by their own tests (a JWT is required); /metrics takes no input

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=15, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # noqa: ANN001
            response = case.call()
            calls.append(operation.path)  # noqa: B023 - run() is called within this iteration
            if response.status_code >= 500:
                failures.append((operation.method, operation.path, response.status_code,  # noqa: B023
                                 response.text[:200]))
            elif response.status_code == 400:
                body = response.json()
                assert body.get("error") and body.get("message"), body
        run()
    assert not failures, failures[:5]
    assert len(set(calls)) >= 8  # every API operation was exercised
