"""Every route x every kind of caller: who may use it, and nobody else (a test that fails when a new route is added
without deciding who may call it).

The routes of one check and its reminders are walked with a check made by dr.lee: a prescriber reaches the checks
they made and the reminders those checks scheduled, pharmacists and admins every one; another prescriber (dr.kim)
is answered as if the check did not exist.

The review loop (issue 14): claims, decisions and the decisions' CSV export are for pharmacists and admins only;
everyone signed in (or holding a token) reads their own checks at My checks, and nobody else's."""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api import create_app
from stewardship import accounts
from tests.integration.test_cds_hooks import IBUPROFEN_600, hook_body

PASSWORD = "correct horse battery"
CALLERS = ("anonymous", "prescriber_token", "other_prescriber_token", "pharmacist_token", "admin_token", "ehr_jwt",
           "prescriber_session", "other_prescriber_session", "pharmacist_session", "admin_session")
NAMES = {"prescriber": "dr.lee", "other_prescriber": "dr.kim", "pharmacist": "pat.pharmacist", "admin": "ada.admin"}
TOKENS = {"prescriber_token", "other_prescriber_token", "pharmacist_token", "admin_token"}
SESSIONS = {"prescriber_session", "other_prescriber_session", "pharmacist_session", "admin_session"}
EVERYONE = set(CALLERS)
OWNER_AND_REVIEWER_TOKENS = {"prescriber_token", "pharmacist_token", "admin_token"}  # dr.lee made the check

# (method, rule) -> the callers allowed through
ALLOWED = {
    ("GET", "/healthz"): EVERYONE, ("GET", "/openapi.json"): EVERYONE, ("GET", "/metrics"): EVERYONE,
    ("GET", "/static/<path:filename>"): EVERYONE, ("GET", "/assets/<path:filename>"): EVERYONE,
    ("GET", "/signin"): EVERYONE, ("POST", "/signin"): EVERYONE, ("GET", "/cds-services"): EVERYONE,
    ("POST", "/cds-services/<service_id>"): {"ehr_jwt"},
    ("POST", "/cds-services/<service_id>/feedback"): {"ehr_jwt"},
    ("POST", "/api/v1/checks"): TOKENS, ("GET", "/api/v1/checks/<check_id>"): OWNER_AND_REVIEWER_TOKENS,
    ("GET", "/api/v1/drugs"): TOKENS, ("GET", "/api/v1/drugs/resolve"): TOKENS,
    ("POST", "/api/v1/procedure-plans"): TOKENS,
    ("GET", "/api/v1/reminders"): TOKENS,  # each prescriber sees their own (test_reminders.py)
    ("POST", "/api/v1/reminders/<reminder_id>/complete"): OWNER_AND_REVIEWER_TOKENS,
    ("GET", "/api/v1/whoami"): TOKENS,
    ("GET", "/api/v1/reviews"): {"pharmacist_token", "admin_token"},
    ("GET", "/api/v1/sweeps"): {"pharmacist_token", "admin_token"},
    ("GET", "/api/v1/sweeps/<sweep_id>/worklist"): {"pharmacist_token", "admin_token"},
    ("GET", "/api/v1/reviews/<check_id>"): {"pharmacist_token", "admin_token"},
    ("POST", "/api/v1/reviews/<check_id>/decision"): {"pharmacist_token", "admin_token"},
    ("POST", "/api/v1/reviews/<check_id>/claim"): {"pharmacist_token", "admin_token"},
    ("DELETE", "/api/v1/reviews/<check_id>/claim"): {"pharmacist_token", "admin_token"},  # an admin: anyone's
    ("GET", "/api/v1/reviews/decisions.csv"): {"pharmacist_token", "admin_token"},
    ("GET", "/api/v1/my/checks"): TOKENS,  # each caller's own checks only (test_review_loop.py)
    ("GET", "/my/checks"): SESSIONS,
    ("POST", "/reviews/<check_id>/claim"): {"pharmacist_session", "admin_session"},
    ("GET", "/reviews/decisions.csv"): {"pharmacist_session", "admin_session"},
    ("GET", "/"): SESSIONS, ("POST", "/"): SESSIONS, ("GET", "/drugs/suggest"): SESSIONS,
    ("POST", "/signout"): EVERYONE,  # harmless without a session: it only ends one
    ("GET", "/checks/<check_id>"): SESSIONS - {"other_prescriber_session"},
    # editing, applying a suggestion and the taper sheet start from the check: whoever may open it (issue 14)
    ("GET", "/checks/<check_id>/edit"): SESSIONS - {"other_prescriber_session"},
    ("POST", "/checks/<check_id>/apply"): SESSIONS - {"other_prescriber_session"},
    ("GET", "/checks/<check_id>/taper"): SESSIONS - {"other_prescriber_session"},
    ("POST", "/checks/<check_id>/decision"): {"pharmacist_session", "admin_session"},
    ("GET", "/reviews"): {"pharmacist_session", "admin_session"},
    ("GET", "/sweeps"): {"pharmacist_session", "admin_session"},
    ("GET", "/rules"): {"pharmacist_session", "admin_session"},
    ("GET", "/knowledge"): {"pharmacist_session", "admin_session"},
    ("GET", "/api/v1/knowledge"): TOKENS,
}
CHECK = {"patient": {"id": "matrix-1", "age": 70, "crcl": {"value": 25, "unit": "mL/min"},
                     "plannedProcedures": [{"procedure": "scs_trial", "date": "2026-12-10"}],
                     # gabapentin for 12 weeks without benefit: a stop-or-taper finding, so the check has a taper sheet
                     "medications": [{"drug": "gabapentin", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID",
                                      "startDate": "2026-09-01"}],
                     "outcomes": [{"drug": "gabapentin", "date": "2026-10-15", "benefit": False}]},
         "regimen": [{"drug": "gabapentin", "dose": {"value": 600, "unit": "mg"}, "frequency": "TID"}],
         "asOf": "2026-11-27"}


@pytest.fixture
def world(settings, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps([{"iss": "https://ehr", "jwks": {"keys": [{**public, "kid": "k"}]}}]))
    app = create_app(replace(settings, cds_issuers=issuers, public_url="http://localhost"))
    store = app.extensions["store"]
    tokens = {}
    for kind, name in NAMES.items():
        accounts.add_user(store, name, kind.replace("other_", ""), PASSWORD)
        tokens[kind] = accounts.create_token(store, name)
    made = app.test_client().post("/api/v1/checks", json=CHECK,
                                  headers={"Authorization": f"Bearer {tokens['prescriber']}"}).get_json()
    yield app, key, tokens, made
    store.engine.dispose()


def _csrf(client, path: str = "/signin") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    return found[1] if found else ""


def _client(app, key, tokens: dict, caller: str):
    client = app.test_client()
    headers: dict[str, str] = {}
    kind = caller.rsplit("_", 1)[0]
    if caller in TOKENS:
        headers["Authorization"] = f"Bearer {tokens[kind]}"
    if caller in SESSIONS:
        client.post("/signin", data={"name": NAMES[kind], "password": PASSWORD, "csrf_token": _csrf(client)})
    return client, headers


def _call(app, key, tokens, made, caller: str, method: str, rule: str):
    client, headers = _client(app, key, tokens, caller)
    path = (rule.replace("<check_id>", made["id"]).replace("<reminder_id>", made["reminders"][0]["id"])
            .replace("<service_id>", "stewardship-order-sign").replace("<path:filename>", "style.css"))
    if caller == "ehr_jwt":
        now = int(time.time())
        claims = {"iss": "https://ehr", "aud": "http://localhost" + path, "iat": now, "exp": now + 60,
                  "jti": str(uuid.uuid4())}
        headers["Authorization"] = "Bearer " + jwt.encode(claims, key, algorithm="RS384",
                                                         headers={"kid": "k", "typ": "JWT"})
    bodies = {"/api/v1/checks": CHECK, "/api/v1/procedure-plans": CHECK,
              f"/api/v1/reminders/{made['reminders'][0]['id']}/complete": {"benefit": True},
              f"/api/v1/reviews/{made['id']}/decision": {"decision": "approved"},
              "/cds-services/stewardship-order-sign": hook_body("order-sign", [IBUPROFEN_600]),
              "/cds-services/stewardship-order-sign/feedback": {"feedback": [{
                  "card": "x", "outcome": "overridden", "outcomeTimestamp": "2026-11-27T10:00:00Z"}]}}
    if rule.endswith("/claim"):  # each caller meets the item unclaimed, or, to release it, claimed by themselves
        from adapters.reviews import ReviewStore, review_claims
        with app.extensions["store"].engine.begin() as connection:
            connection.execute(review_claims.delete())
        if method == "DELETE":
            holder = NAMES.get(caller.rsplit("_", 1)[0], "pat.pharmacist")
            ReviewStore(app.extensions["store"].engine).claim(made["id"], holder)
            return client.delete(path, headers=headers)
    if method == "GET":
        query = {"/api/v1/drugs": {"q": "ibu"}, "/api/v1/drugs/resolve": {"text": "ibuprofen"},
                 "/drugs/suggest": {"q": "ibu"}}.get(path, {})
        return client.get(path, query_string=query, headers=headers)
    if path in bodies:
        return client.post(path, json=bodies[path], headers=headers)
    form = {"csrf_token": _csrf(client, "/" if caller in SESSIONS else "/signin")}
    if path == "/signin":
        form.update(name="dr.lee", password=PASSWORD)
    if path.endswith("/decision"):
        form.update(decision="approved", note="ok")
    if path.endswith("/claim"):
        form.update(action="claim")
    return client.post(path, data=form, headers=headers)


def _denied(response, rule: str) -> bool:
    # on the routes of one check or reminder a 404 is a refusal too: another prescriber's is answered as if it did
    # not exist (the walk uses ids that exist)
    refusals = (401, 403, 404) if "<check_id>" in rule or "<reminder_id>" in rule else (401, 403)
    location = response.headers.get("Location", "")
    return response.status_code in refusals or (response.status_code in (302, 303) and "/signin" in location
                                                and "next=" in location)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_is_open_to_exactly_the_callers_it_should_be(world):
    app, key, tokens, made = world
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(ALLOWED), f"decide who may call: {sorted(routes ^ set(ALLOWED))}"
    wrong = []
    for (method, rule), allowed in sorted(ALLOWED.items()):
        for caller in CALLERS:
            response = _call(app, key, tokens, made, caller, method, rule)
            if _denied(response, rule) == (caller in allowed):
                wrong.append((method, rule, caller, response.status_code))
            response.close()
    assert not wrong, wrong
