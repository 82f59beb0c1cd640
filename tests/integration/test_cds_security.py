"""CDS Hooks under attack (issue 13): the EHR's FHIR token goes only to the FHIR servers its trust entry names,
every FHIR read is bounded in size and time, tokens of odd shape are a 401 (never a 500), answers and feedback
belong to the issuer that called, EHR text never becomes markdown, and values PostgreSQL would refuse are a 400.
Against real HTTP servers on 127.0.0.1, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from adapters.cds_auth import load_issuers
from adapters.reviews import audit_log
from adapters.storage import cds_feedback, checks
from tests.fhir_server import FhirServer
from tests.integration.test_cds_hooks import (  # noqa: F401
    BASE,
    CKD4,
    IBUPROFEN_600,
    ISS,
    SIGN,
    WARFARIN,
    bundle,
    call,
    call_with_fhir,
    cds_app,
    ehr_key,
    hook_body,
    issuer_entry,
    medication_request,
    poster,
    prefetch_78_ckd4_on_warfarin,
    token,
    trusting,
)

FHIR_AUTH = {"access_token": "secret-fhir-token", "token_type": "Bearer", "expires_in": 300,
             "scope": "patient/*.read", "subject": "stewardship"}
PATIENT = prefetch_78_ckd4_on_warfarin()["patient"]


def fetching(server_url: str, prefetch: dict | None = None, patient_id: str = "pt-78") -> dict:
    body = hook_body("order-sign", [IBUPROFEN_600], prefetch if prefetch is not None else {},
                     fhirServer=server_url, fhirAuthorization=FHIR_AUTH)
    body["context"]["patientId"] = patient_id
    return body


class RawServer:
    """An HTTP server on 127.0.0.1 whose every GET is answered by `answer(handler)`; it records what it was sent."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, self.headers.get("Authorization")))
                try:
                    answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.base = self.origin + "/fhir"

    def __enter__(self) -> "RawServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(handler: BaseHTTPRequestHandler, body: dict, status: int = 200, headers: dict | None = None) -> None:
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/fhir+json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


def not_checked(response) -> list[str]:
    return [c["summary"] for c in response.get_json()["cards"] if c["summary"].startswith("Not checked")]


# ------------------------------------------------------------------------------------------------------ SSRF
def test_a_fhir_server_the_issuer_did_not_list_is_never_contacted(call):
    with FhirServer([PATIENT, CKD4, WARFARIN]) as server:
        response = call(SIGN, fetching(server.base))
        assert not server.hits  # no request at all, so the EHR's token went nowhere
    assert response.status_code == 412
    assert "fhirServer" in response.get_json()["fields"]


def test_one_trusted_ehr_cannot_make_the_service_read_another_ehrs_fhir_server(trusting, ehr_key):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with FhirServer([PATIENT, CKD4, WARFARIN]) as first_ehrs_server:
        application = trusting(issuer_entry(ehr_key, fhir_servers=(first_ehrs_server.base,)),
                               issuer_entry(other_key, iss="https://other-ehr.example.org", kid="other-1"))
        post = poster(application, other_key, iss="https://other-ehr.example.org", kid="other-1")
        response = post(SIGN, fetching(first_ehrs_server.base))
        assert not first_ehrs_server.hits
    assert response.status_code == 412


def test_optional_data_from_an_unlisted_fhir_server_is_said_not_checked_and_not_fetched(call):
    prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k not in ("creatinine", "weight")}
    with FhirServer([]) as server:
        response = call(SIGN, fetching(server.base, prefetch))
        assert not server.hits
    assert response.status_code == 200
    assert any("creatinine" in summary for summary in not_checked(response))


@pytest.mark.parametrize("entry, problem", [
    ({"fhirServers": ["http://ehr.example.org/fhir"]}, "plain http"),
    ({"fhirServers": ["http://127.0.0.1:8080/fhir"]}, "plain http"),  # loopback http needs allowHttpLoopback
    ({"fhirServers": ["http://10.0.0.5/fhir"], "allowHttpLoopback": True}, "plain http"),
    ({"fhirServers": ["https://user:pw@ehr.example.org/fhir"]}, "credentials"),
    ({"fhirServers": "https://ehr.example.org/fhir"}, "a list"),
])
def test_issuer_fhir_servers_are_https_or_explicitly_allowed_loopback(tmp_path, entry, problem):
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": ISS, "jwks": {"keys": []}, **entry}]))
    with pytest.raises(ValueError, match=problem):
        load_issuers(path)


def test_https_and_allowed_loopback_fhir_servers_are_accepted(tmp_path):
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([{"iss": ISS, "jwks": {"keys": []}, "allowHttpLoopback": True,
                                 "fhirServers": ["https://ehr.example.org/fhir/r4/", "http://127.0.0.1:9/fhir",
                                                 "http://localhost:9/fhir"]}]))
    issuer = load_issuers(path)[ISS]
    assert issuer.allows_fhir_server("https://ehr.example.org/fhir/r4")
    assert issuer.allows_fhir_server("https://ehr.example.org/fhir/r4/")
    assert not issuer.allows_fhir_server("https://ehr.example.org/fhir/r4/../admin")
    assert not issuer.allows_fhir_server("https://ehr.example.org/fhir")


def test_a_redirect_from_the_fhir_server_is_not_followed(call_with_fhir):
    with FhirServer([PATIENT, CKD4, WARFARIN]) as elsewhere:
        def redirect(handler):
            handler.send_response(302)
            handler.send_header("Location", elsewhere.base + handler.path.removeprefix("/fhir"))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        with RawServer(redirect) as server:
            prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k != "weight"}
            response = call_with_fhir(server.base)(SIGN, fetching(server.base, prefetch))
        assert not elsewhere.hits
    assert response.status_code == 200
    assert any("redirect" in summary for summary in not_checked(response))


def test_a_next_link_to_another_origin_is_not_followed_and_gets_no_token(call_with_fhir):
    with RawServer(lambda h: send_json(h, {"resourceType": "Bundle", "type": "searchset", "entry": []})) as thief:
        def paged(handler):
            send_json(handler, {"resourceType": "Bundle", "type": "searchset", "entry": [],
                                "link": [{"relation": "next", "url": thief.base + "/Observation?page=2"}]})
        with RawServer(paged) as server:
            prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k != "weight"}
            response = call_with_fhir(server.base)(SIGN, fetching(server.base, prefetch))
            assert server.requests[0][1] == "Bearer secret-fhir-token"
        assert thief.requests == []
    assert response.status_code == 200 and not_checked(response)


@pytest.mark.parametrize("patient_id", ["../../../internal-admin?x=", "..", "pt 78", "pt-78/../../admin"])
def test_a_patient_id_never_leaves_the_fhir_base(call_with_fhir, patient_id):
    with RawServer(lambda h: send_json(h, PATIENT)) as server:
        response = call_with_fhir(server.base)(SIGN, fetching(server.base, patient_id=patient_id))
        assert all(path.startswith("/fhir/") for path, _ in server.requests)
        assert not any("admin" in path for path, _ in server.requests)
    assert response.status_code == 412
    assert "context.patientId" in response.get_json()["fields"]


def test_without_authentication_no_fhir_server_is_contacted(settings):
    from dataclasses import replace

    from api import create_app

    application = create_app(replace(settings, auth=False))
    try:
        with FhirServer([PATIENT, CKD4, WARFARIN]) as server:
            response = application.test_client().post(SIGN, json=fetching(server.base))
            assert not server.hits
        assert response.status_code == 412
    finally:
        application.extensions["store"].engine.dispose()


# ------------------------------------------------------------------------------- FHIR reads: size and time caps
def test_an_answer_larger_than_the_cap_is_refused_without_being_kept(call_with_fhir):
    huge = {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                                    "code": {"text": "x" * 500}}} for i in range(400)]}  # ~230 kB
    with RawServer(lambda h: send_json(h, huge)) as server:
        prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k != "weight"}
        response = call_with_fhir(server.base, fhir_max_bytes=64 * 1024)(SIGN, fetching(server.base, prefetch))
    assert response.status_code == 200
    assert any("too large" in summary for summary in not_checked(response))


def test_a_trickling_fhir_server_is_cut_at_the_hook_calls_time_budget(call_with_fhir):
    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(100):  # one byte every 0.1 s never trips a per-read timeout
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.1)
    with RawServer(trickle) as server:
        prefetch = {"patient": PATIENT, "conditions": None, "medications": None, "medicationStatements": None,
                    "medicationDispenses": None, "medicationAdministrations": None}
        post = call_with_fhir(server.base, fhir_timeout=1.0, fhir_budget=1.0)
        started = time.monotonic()
        response = post(SIGN, fetching(server.base, prefetch))
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.is_json
    assert elapsed < 2.0  # three lab queries share one budget of 1 s
    assert len(not_checked(response)) == 3


def test_a_hanging_fhir_server_costs_the_budget_not_a_timeout_per_query(call_with_fhir):
    with FhirServer([], delay=5) as server:
        prefetch = {"patient": PATIENT, "conditions": None, "medications": None}
        post = call_with_fhir(server.base, fhir_timeout=2.0, fhir_budget=0.8)
        started = time.monotonic()
        response = post(SIGN, fetching(server.base, prefetch))
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed < 1.8


def test_an_answer_nested_too_deeply_is_not_json_to_us(call_with_fhir):
    def deep(handler):
        payload = b"[" * 100_000 + b"]" * 100_000
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
    with RawServer(deep) as server:
        prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k != "weight"}
        response = call_with_fhir(server.base)(SIGN, fetching(server.base, prefetch))
    assert response.status_code == 200 and not_checked(response)


# ------------------------------------------------------------------------------------------------ JWT odd shapes
def _signed(claims: dict, key, alg: str = "RS384", kid: str = "ehr-1") -> dict:
    """Signed as JWS over any JSON: PyJWT's own encoder refuses claims of odd shape, an attacker's does not."""
    signed = jwt.api_jws.PyJWS().encode(json.dumps(claims).encode(), key, algorithm=alg,
                                        headers={"kid": kid, "typ": "JWT"})
    return {"Authorization": f"Bearer {signed}"}


def _claims(**changes) -> dict:
    now = int(time.time())
    return {"iss": ISS, "aud": BASE + SIGN, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4()), **changes}


@pytest.mark.parametrize("name", ["ec_signature_for_an_rsa_key", "list_iss", "absurd_exp", "long_lifetime",
                                  "long_jti", "numeric_jti", "string_iat"])
def test_tokens_of_odd_shape_are_401_json_never_500(cds_app, ehr_key, name):
    now = int(time.time())
    headers = {
        "ec_signature_for_an_rsa_key": _signed(_claims(), ec.generate_private_key(ec.SECP256R1()), alg="ES256"),
        "list_iss": _signed(_claims(iss=[ISS]), ehr_key),
        "absurd_exp": _signed(_claims(exp=10**20), ehr_key),
        "long_lifetime": _signed(_claims(exp=now + 3600), ehr_key),
        "long_jti": _signed(_claims(jti="j" * 500), ehr_key),
        "numeric_jti": _signed(_claims(jti=12345), ehr_key),
        "string_iat": _signed(_claims(iat="yesterday"), ehr_key),
    }[name]
    response = cds_app.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]), headers=headers)
    assert response.status_code == 401 and response.is_json
    assert "reason" not in response.get_json()


def test_issuers_without_a_public_url_do_not_start(settings, tmp_path, ehr_key):
    from dataclasses import replace

    from api import create_app

    path = tmp_path / "issuers.json"
    path.write_text(json.dumps([issuer_entry(ehr_key)]))
    with pytest.raises(ValueError, match="STEWARDSHIP_PUBLIC_URL"):
        create_app(replace(settings, cds_issuers=path, public_url=None))


def test_an_unknown_kid_does_not_refetch_the_issuers_keys_on_every_call(trusting, ehr_key):
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(ehr_key.public_key()))
    with RawServer(lambda h: send_json(h, {"keys": [{**public, "kid": "ehr-1"}]})) as jwks:
        application = trusting({"iss": ISS, "jwksUrl": jwks.origin + "/jwks", "allowHttpLoopback": True})
        client = application.test_client()
        assert client.post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                           headers={"Authorization": f"Bearer {token(ehr_key, SIGN)}"}).status_code == 200
        for _ in range(5):
            response = client.post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                                   headers={"Authorization": f"Bearer {token(ehr_key, SIGN, kid='no-such-key')}"})
            assert response.status_code == 401
        assert len(jwks.requests) == 1


# ------------------------------------------------------------------------------------- answers keyed by issuer
@pytest.fixture
def two_ehrs(trusting, ehr_key):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    application = trusting(issuer_entry(ehr_key),
                           issuer_entry(other_key, iss="https://other-ehr.example.org", kid="other-1"))
    return (application, poster(application, ehr_key),
            poster(application, other_key, iss="https://other-ehr.example.org", kid="other-1"))


def test_a_hook_instance_answered_for_one_ehr_is_not_returned_to_another(two_ehrs):
    _, first, second = two_ehrs
    body = hook_body("order-sign", [IBUPROFEN_600])
    answered = first(SIGN, body)
    assert answered.status_code == 200 and answered.get_json()["cards"]
    stolen = second(SIGN, {**body, "prefetch": {**body["prefetch"], "medications": None}})
    assert stolen.status_code == 409 and "cards" not in stolen.get_json()


def test_feedback_on_another_ehrs_card_is_not_stored(two_ehrs):
    application, first, second = two_ehrs
    cards = first(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"]
    forged = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                            "outcomeTimestamp": "2026-12-05T10:00:00Z"}]}
    assert second(f"{SIGN}/feedback", forged).status_code == 200
    with application.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(cds_feedback)).scalar() == 0
    assert first(f"{SIGN}/feedback", forged).status_code == 200
    with application.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(cds_feedback)).scalar() == 1


# ------------------------------------------------------------------------------ EHR text is text, not markdown
HOSTILE = "[click me](javascript:alert(1)) <img src=x onerror=alert(1)> ![i](https://evil.example/x.png)"


def test_free_text_from_the_ehr_cannot_put_links_or_html_on_a_card(call):
    draft = medication_request("draft-x", "197806", dose={"value": 1}, per_day=3)
    draft["medicationCodeableConcept"] = {"text": HOSTILE}
    prefetch = prefetch_78_ckd4_on_warfarin()
    prefetch["conditions"] = bundle(CKD4, {**CKD4, "id": "c-x", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "<script>alert(1)</script>"}]}})
    response = call(SIGN, hook_body("order-sign", [draft], prefetch))
    assert response.status_code == 200
    text = json.dumps([{k: c.get(k) for k in ("summary", "detail")} for c in response.get_json()["cards"]])
    assert "not be identified" in text  # the line is reported ...
    for dangerous in ("](javascript:", "<img", "<script>", "![i](", "](https://evil"):
        assert dangerous not in text, text[max(0, text.find(dangerous) - 300):text.find(dangerous) + 100]


# --------------------------------------------------------------------- what PostgreSQL would refuse is a 400
@pytest.mark.parametrize("change, field", [
    (lambda b: b["context"].update(userId="Practitioner/" + "u" * 300), "context.userId"),
    (lambda b: b["context"].update(patientId="p" * 250), "context.patientId"),
    (lambda b: b["context"].update(userId="Practitioner/a\x00b"), "context.userId"),
])
def test_values_too_long_or_with_nul_for_the_database_are_a_400_naming_the_field(call, change, field):
    body = hook_body("order-sign", [IBUPROFEN_600])
    change(body)
    response = call(SIGN, body)
    assert response.status_code == 400 and field in response.get_json()["fields"]


def test_a_long_but_valid_user_id_is_kept_whole(call, cds_app):
    body = hook_body("order-sign", [IBUPROFEN_600])
    body["context"]["userId"] = "PractitionerRole/" + "r" * 64  # a 64-character FHIR id: 81 characters
    assert call(SIGN, body).status_code == 200
    with cds_app.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(checks.c.requester)).scalar() == body["context"]["userId"]


@pytest.mark.parametrize("item, field", [
    ({"card": "c" * 100}, "feedback[0].card"),
    ({"overrideReason": {"reason": {"system": "urn:x", "code": "c" * 150}}}, "feedback[0].overrideReason"),
    ({"outcomeTimestamp": "t" * 100}, "feedback[0].outcomeTimestamp"),
])
def test_feedback_fields_longer_than_stored_are_a_400(call, item, field):
    base = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-12-05T10:00:00Z"}
    response = call(f"{SIGN}/feedback", {"feedback": [{**base, **item}]})
    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.get_json()["fields"])


def test_json_nested_a_thousand_deep_is_a_400(cds_app, ehr_key):
    nested = "[" * 1000 + "]" * 1000
    response = cds_app.test_client().post(SIGN, data=f'{{"hook": "order-sign", "x": {nested}}}',
                                          content_type="application/json",
                                          headers={"Authorization": f"Bearer {token(ehr_key, SIGN)}"})
    assert response.status_code == 400 and response.get_json()["error"] == "validation_failed"


@pytest.mark.parametrize("levels, refused", [(31, False), (32, True)])
def test_a_body_is_too_deep_only_past_32_levels_and_the_answer_names_where(cds_app, ehr_key, levels, refused):
    body = f'{{"hook": "order-sign", "x": {"[" * levels}1{"]" * levels}}}'  # the 1 sits at depth levels + 1
    response = cds_app.test_client().post(SIGN, data=body, content_type="application/json",
                                          headers={"Authorization": f"Bearer {token(ehr_key, SIGN)}"})
    fields = response.get_json()["fields"]
    assert response.status_code == 400  # (not a valid hook call either way)
    assert (fields.get("x" + "[0]" * levels) == "nested deeper than 32 levels") == refused, fields


def test_a_nul_written_as_a_json_escape_in_a_key_is_a_400_naming_it(cds_app, ehr_key):
    response = cds_app.test_client().post(SIGN, data='{"hook": "order-sign", "a\\u0000b": 1}',
                                          content_type="application/json",
                                          headers={"Authorization": f"Bearer {token(ehr_key, SIGN)}"})
    assert response.status_code == 400 and "a\\u0000b" in response.get_json()["fields"]


# ----------------------------------------------------------------------------------------------------- audit
def test_hook_calls_and_feedback_are_in_the_audit_log(call, cds_app):
    cards = call(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"]
    call(f"{SIGN}/feedback", {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                                            "outcomeTimestamp": "2026-12-05T10:00:00Z"}]})
    with cds_app.extensions["store"].engine.connect() as connection:
        rows = connection.execute(select(audit_log.c.user_name, audit_log.c.action, audit_log.c.target)).all()
    made = [row for row in rows if row.action == "create_check"]  # written with the hook's check, in one transaction
    assert len(made) == 1 and made[0].target.startswith("cds:order-sign:check:")
    assert made[0].user_name == "Practitioner/prac-1"
    assert Counter(row.action for row in rows)["cds_feedback"] == 1
