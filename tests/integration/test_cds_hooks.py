"""CDS Hooks 2.0 over FHIR R4: discovery, order-select and order-sign with realistic bundles, JWT trust, the FHIR
server fallback, no repeated cards, no alert loops, feedback. On SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from adapters.storage import cds_feedback, check_findings, checks, jwt_seen
from api import create_app
from tests.fhir_server import FhirServer, load_samples

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ISS = "https://ehr.example.org"
BASE = "http://localhost"  # the Flask test client's host URL: the audience of every token here
SIGN = "/cds-services/stewardship-order-sign"
SELECT = "/cds-services/stewardship-order-select"


# ------------------------------------------------------------------------------------------------- the EHR side
@pytest.fixture(scope="module")
def ehr_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issuer_entry(key, *, iss: str = ISS, kid: str = "ehr-1", fhir_servers: tuple[str, ...] = (),
                 loopback: bool = True) -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"iss": iss, "jwks": {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS384"}]},
            "fhirServers": list(fhir_servers), "allowHttpLoopback": loopback}


@pytest.fixture
def trusting(settings, tmp_path):
    """trusting(*issuer entries, **settings) -> an app that trusts those EHRs (disposed after the test)."""
    made = []

    def make(*entries: dict, **changes):
        issuers = tmp_path / f"issuers-{len(made)}.json"
        issuers.write_text(json.dumps(list(entries)))
        application = create_app(replace(settings, cds_issuers=issuers, public_url=BASE, **changes))
        made.append(application)
        return application
    yield make
    for application in made:
        application.extensions["store"].engine.dispose()


@pytest.fixture
def cds_app(trusting, ehr_key):
    return trusting(issuer_entry(ehr_key))


def poster(application, key, **defaults):
    client = application.test_client()

    def post(path: str, body: dict, **token_options):
        headers = {"Authorization": f"Bearer {token(key, path, **{**defaults, **token_options})}"}
        return client.post(path, json=body, headers=headers)
    return post


def token(key, path: str, *, aud: str | None = None, exp_in: int = 300, jti: str | None = None, kid: str = "ehr-1",
          alg: str = "RS384", iss: str = ISS) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": aud or BASE + path, "iat": now, "exp": now + exp_in, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


@pytest.fixture
def call(cds_app, ehr_key):
    return poster(cds_app, ehr_key)


@pytest.fixture
def call_with_fhir(trusting, ehr_key):
    """call_with_fhir(server base, **settings) -> post, from an EHR whose trust entry lists that FHIR server."""
    def make(base: str, **changes):
        return poster(trusting(issuer_entry(ehr_key, fhir_servers=(base,)), **changes), ehr_key)
    return make


def medication_request(order_id: str, rxcui: str, *, status: str = "draft", dose: dict | None = None,
                       per_day: int | None = None, every_hours: int | None = None, prn: bool = False,
                       authored: str = "2026-11-27") -> dict:
    dosage: dict = {"asNeededBoolean": prn}
    if dose:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if per_day:
        dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    if every_hours:
        dosage["timing"] = {"repeat": {"frequency": 1, "period": every_hours, "periodUnit": "h"}}
    return {"resourceType": "MedicationRequest", "id": order_id, "status": status, "intent": "order",
            "subject": {"reference": "Patient/pt-78"}, "authoredOn": authored,
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
            "dosageInstruction": [dosage]}


def bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset" if resources and resources[0].get("status") != "draft"
            else "collection", "entry": [{"resource": r} for r in resources]}


def observation(code: str, value: float, unit: str, when: str = "2026-11-20T08:00:00Z") -> dict:
    return {"resourceType": "Observation", "id": f"obs-{code}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/pt-78"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


CKD4 = {"resourceType": "Condition", "id": "c-ckd4", "subject": {"reference": "Patient/pt-78"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "431857002"}]}}
WARFARIN = medication_request("rx-warfarin", "855332", status="active", dose={"value": 1}, per_day=1,
                              authored="2025-02-01")


def prefetch_78_ckd4_on_warfarin() -> dict:
    return {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "female", "birthDate": "1948-03-02"},
            "conditions": bundle(CKD4), "medications": bundle(WARFARIN),
            "creatinine": bundle(observation("2160-0", 2.1, "mg/dL")),
            "egfr": None, "weight": bundle(observation("29463-7", 61, "kg"))}


def hook_body(hook: str, drafts: list[dict], prefetch: dict | None = None, **extra) -> dict:
    context = {"userId": "Practitioner/prac-1", "patientId": "pt-78",
               "draftOrders": {"resourceType": "Bundle", "type": "collection",
                               "entry": [{"resource": d} for d in drafts]}}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{drafts[0]['id']}"]
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
            "prefetch": prefetch if prefetch is not None else prefetch_78_ckd4_on_warfarin()}
    body.update(extra)
    return body


IBUPROFEN_600 = medication_request("draft-ibu", "197806", dose={"value": 1, "unit": "{tablet}"}, per_day=3)


def stands_for(card: dict) -> list[dict]:
    """The findings a card stands for (by default one card per draft order stands for all of that order's)."""
    return card.get("extension", {}).get("stewardship.findings", [])


def findings_shown(response) -> list[dict]:
    return [finding for card in response.get_json()["cards"] for finding in stands_for(card)]


def shows(cards: list[dict], category: str) -> bool:
    return any(finding["category"] == category for card in cards for finding in stands_for(card))


def card_for(response, category: str) -> dict:
    """The card that stands for a finding of that category."""
    return next(c for c in response.get_json()["cards"] if shows([c], category))


# ---------------------------------------------------------------------------------------------------- discovery
def test_discovery_lists_an_order_select_and_an_order_sign_service_with_prefetch(cds_app):
    services = cds_app.test_client().get("/cds-services").get_json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign"}
    for service in services:
        assert service["id"] and service["description"] and service["title"]
        prefetch = " ".join(service["prefetch"].values())
        for loinc in ("2160-0", "38483-4", "33914-3", "62238-1", "98979-8", "48642-3", "29463-7"):
            assert loinc in prefetch
        assert all("{{context.patientId}}" in template for template in service["prefetch"].values())
        assert "412" in service["usageRequirements"]  # what an integrator must send, said where they look


def test_labs_left_out_of_prefetch_without_a_fhir_server_are_said_not_guessed(call):
    prefetch = {k: v for k, v in prefetch_78_ckd4_on_warfarin().items() if k not in ("creatinine", "egfr", "weight")}
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch))
    assert response.status_code == 200
    renal = [f for f in findings_shown(response) if f["category"] == "renal"]
    assert renal and all(f["severity"] == "info" and "not checked" in f["summary"] for f in renal)
    assert all(c["indicator"] == "info" for c in response.get_json()["cards"] if shows([c], "renal"))


# ------------------------------------------------------------------------------------------------ the cards
def test_order_sign_nsaid_for_a_78_year_old_with_ckd4_on_warfarin(call):
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600]))
    assert response.status_code == 200, response.get_json()
    cards = response.get_json()["cards"]
    renal = card_for(response, "renal")
    assert renal["indicator"] == "critical" and "ibuprofen" in renal["summary"] and len(renal["summary"]) < 140
    assert renal["source"]["topic"]["system"] == "urn:stewardship:finding-category"
    assert {f["category"]: f["severity"] for f in stands_for(renal)}["renal"] == "critical"
    assert card_for(response, "bleeding")["uuid"] == renal["uuid"]  # one card for the ibuprofen order, every reason
    assert [c["indicator"] for c in cards].count("critical") == 1
    for card in cards:
        assert card["uuid"] and card["source"]["label"] and card["links"][0]["type"] == "absolute"
        if card["indicator"] in ("warning", "critical"):
            assert all(r["display"] and r["code"] and r["system"] for r in card["overrideReasons"])
        for key, value in card.items():
            assert value not in (None, "", [], {}), key  # CDS Hooks: no empty values
    actions = [a for s in renal["suggestions"] for a in s["actions"]]
    assert {"type": "delete", "description": "Remove the draft order draft-ibu",
            "resourceId": "MedicationRequest/draft-ibu"} in actions
    created = next(a["resource"] for a in actions if a["type"] == "create")
    assert created["medicationCodeableConcept"]["coding"][0]["code"] == "198440"
    assert renal["selectionBehavior"] == "any"


def test_a_clean_order_gets_no_cards(call):
    prefetch = {"patient": {"resourceType": "Patient", "id": "pt-78", "gender": "male", "birthDate": "1985-01-01"},
                "conditions": None, "medications": None, "creatinine": bundle(observation("2160-0", 0.9, "mg/dL")),
                "egfr": None, "weight": bundle(observation("29463-7", 80, "kg"))}
    apap = medication_request("draft-apap", "198440", dose={"value": 1, "unit": "{tablet}"}, every_hours=6)
    response = call(SIGN, hook_body("order-sign", [apap], prefetch))
    assert response.status_code == 200 and response.get_json() == {"cards": []}


def test_a_branded_combination_product_counts_every_ingredient(call):
    norco = medication_request("draft-norco", "857001", dose={"value": 1, "unit": "{tablet}"}, every_hours=4)
    response = call(SIGN, hook_body("order-sign", [norco]))
    summaries = " ".join(f["summary"] for f in findings_shown(response))
    assert "60 MME/day" in summaries  # hydrocodone 10 mg x 6 a day
    assert card_for(response, "opioid")


def test_order_select_cards_are_about_the_selected_order(call):
    apap = medication_request("draft-apap", "198440", dose={"value": 1, "unit": "{tablet}"}, every_hours=6)
    body = hook_body("order-select", [apap, IBUPROFEN_600])
    response = call(SELECT, body)
    assert response.status_code == 200
    assert all("ibuprofen" not in c["summary"] for c in response.get_json()["cards"])
    assert all("ibuprofen" not in f["summary"] for f in findings_shown(response))


# ------------------------------------------------------------------------------------- no repeats, no loops
def test_a_card_shown_at_order_select_is_not_repeated_at_order_sign_for_the_same_order(call):
    shown = call(SELECT, hook_body("order-select", [IBUPROFEN_600])).get_json()["cards"]
    assert shows(shown, "renal")
    signed = call(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"]
    assert not shows(signed, "renal")
    changed = copy.deepcopy(IBUPROFEN_600)
    changed["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = 4
    again = call(SIGN, hook_body("order-sign", [changed])).get_json()["cards"]
    assert shows(again, "renal")


def test_a_card_held_back_from_one_prescriber_is_shown_to_another_who_signs_the_order(call):
    call(SELECT, hook_body("order-select", [IBUPROFEN_600]))
    other = hook_body("order-sign", [IBUPROFEN_600])
    other["context"]["userId"] = "Practitioner/prac-2"
    signed = call(SIGN, other).get_json()["cards"]
    assert any(shows([c], "renal") and c["indicator"] == "critical" for c in signed)


def test_an_order_created_by_accepting_a_suggestion_does_not_re_fire_its_card(call):
    first = call(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"]
    renal = next(c for c in first if shows([c], "renal"))
    created = next(a["resource"] for s in renal["suggestions"] for a in s["actions"] if a["type"] == "create")
    created["id"] = "draft-apap-from-suggestion"
    followup = call(SIGN, hook_body("order-sign", [created])).get_json()["cards"]
    assert not shows(followup, "renal"), followup


@pytest.mark.parametrize("prefetch", [
    prefetch_78_ckd4_on_warfarin(),  # the optional medication keys left out, and no fhirServer to ask for them
    {**prefetch_78_ckd4_on_warfarin(), **dict.fromkeys(("medicationStatements", "medicationDispenses",
                                                        "medicationAdministrations"),
                                      {"resourceType": "Bundle", "type": "searchset", "entry": []})},
], ids=["optional-keys-left-out", "everything-prefetched"])
def test_a_repeated_hook_instance_gets_the_same_answer_and_one_stored_check(call, cds_app, prefetch):
    """Where no FHIR server would be asked, nothing is looked up before the check: a repeat (or the same call made
    twice at once) is worked out again and found when it is kept, since the check, the call and its cards are kept
    in one transaction under the unique hookInstance. The repeat's own check is not kept: the first answer stands."""
    body = hook_body("order-sign", [IBUPROFEN_600], prefetch)
    first = call(SIGN, body)
    store = cds_app.extensions["store"]
    with store.engine.connect() as connection:
        stored_findings = connection.execute(select(func.count()).select_from(check_findings)).scalar()
    second = call(SIGN, body)
    assert second.status_code == 200 and second.get_json() == first.get_json()
    with store.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar() == 1
        assert connection.execute(select(func.count()).select_from(check_findings)).scalar() == stored_findings


def test_a_hook_instance_used_by_another_ehr_is_a_409_without_its_answer(trusting, ehr_key):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    application = trusting(issuer_entry(ehr_key), issuer_entry(other_key, iss="https://other-ehr.example.org"))
    body = hook_body("order-sign", [IBUPROFEN_600])
    assert poster(application, ehr_key)(SIGN, body).status_code == 200
    taken = poster(application, other_key, iss="https://other-ehr.example.org")(SIGN, body)
    assert taken.status_code == 409 and "cards" not in taken.get_json()
    assert taken.get_json()["fields"] == {"hookInstance": "each hook call needs a new hookInstance"}
    with application.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar() == 1


# ------------------------------------------------------------------------------------------------ bad calls
@pytest.mark.parametrize("change, field", [
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b["context"].pop("patientId"), "context.patientId"),
    (lambda b: b["context"].update(draftOrders={"resourceType": "Patient"}), "context.draftOrders"),
    (lambda b: b.update(hook="patient-view"), "hook"),
    (lambda b: b["context"]["draftOrders"]["entry"][0]["resource"].update(authoredOn="last tuesday"),
     "context.draftOrders.entry[0].resource.authoredOn"),
])
def test_a_malformed_call_is_a_400_naming_the_field(call, cds_app, change, field):
    body = hook_body("order-sign", [copy.deepcopy(IBUPROFEN_600)])
    change(body)
    response = call(SIGN, body)
    assert response.status_code == 400
    assert field in response.get_json()["fields"], response.get_json()
    with cds_app.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar() == 0


def test_order_select_without_selections_is_a_400(call):
    body = hook_body("order-select", [IBUPROFEN_600])
    body["context"].pop("selections")
    assert call(SELECT, body).status_code == 400


def test_missing_prefetch_without_a_fhir_server_is_412(call):
    prefetch = prefetch_78_ckd4_on_warfarin()
    prefetch.pop("medications")
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch))
    assert response.status_code == 412 and "prefetch.medications" in response.get_json()["fields"]


def test_null_prefetch_means_no_data_not_missing(call):
    prefetch = prefetch_78_ckd4_on_warfarin()
    prefetch["medications"] = None
    assert call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch)).status_code == 200


# --------------------------------------------------------------------------------------------------- JWT trust
@pytest.mark.parametrize("options, reason", [
    ({"aud": "https://elsewhere.example.org/cds-services/stewardship-order-sign"}, "audience_mismatch"),
    ({"exp_in": -600}, "token_expired"),
    ({"kid": "unknown-key"}, "unknown_key"),
    ({"iss": "https://stranger.example.org"}, "unknown_issuer"),
])
def test_an_untrusted_token_is_401_and_nothing_is_checked(call, cds_app, options, reason, caplog):
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600]), **options)
    assert refused(response, caplog) == reason
    with cds_app.extensions["store"].engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(checks)).scalar() == 0


def refused(response, caplog) -> str:
    """The refusal's reason as logged; the caller is told only that it was refused (no issuer or key enumeration)."""
    assert response.status_code == 401
    assert set(response.get_json()) == {"error", "message"}
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("CDS client refused: ")][-1] \
        .removeprefix("CDS client refused: ")


def test_no_token_is_401(cds_app, caplog):
    response = cds_app.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]))
    assert refused(response, caplog) == "missing_token"


def test_a_token_signed_with_the_wrong_key_is_401(cds_app, caplog):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = cds_app.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                                          headers={"Authorization": f"Bearer {token(stranger, SIGN)}"})
    assert refused(response, caplog) == "bad_signature"


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_hmac_and_none_are_refused(cds_app, alg, caplog):
    forged = jwt.encode({"iss": ISS, "aud": BASE + SIGN, "iat": int(time.time()), "exp": int(time.time()) + 60,
                         "jti": "x"}, "a-shared-secret-of-at-least-32-bytes!" if alg == "HS256" else None, algorithm=alg,
                        headers={"kid": "ehr-1"})
    response = cds_app.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                                          headers={"Authorization": f"Bearer {forged}"})
    assert refused(response, caplog) == "algorithm_not_allowed"


def test_a_replayed_token_is_401(cds_app, ehr_key, caplog):
    client = cds_app.test_client()
    headers = {"Authorization": f"Bearer {token(ehr_key, SIGN, jti='once')}"}
    assert client.post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]), headers=headers).status_code == 200
    replay = client.post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]), headers=headers)
    assert refused(replay, caplog) == "token_replayed"


def test_token_ids_expired_over_an_hour_ago_are_forgotten_at_most_once_a_minute(cds_app):
    store = cds_app.extensions["store"]
    now = dt.datetime.now(dt.timezone.utc)

    def kept() -> set[str]:
        with store.engine.connect() as connection:
            return set(connection.execute(select(jwt_seen.c.jti)).scalars())
    assert store.remember_jti(ISS, "expired-2h-ago", now - dt.timedelta(hours=2))
    assert store.remember_jti(ISS, "fresh", now + dt.timedelta(minutes=5))
    assert kept() == {"expired-2h-ago", "fresh"}  # purged before the first insert, not again within the minute
    store._jtis_purged_at = now - dt.timedelta(minutes=2)
    assert store.remember_jti(ISS, "next", now + dt.timedelta(minutes=5))
    assert kept() == {"fresh", "next"}
    assert not store.remember_jti(ISS, "fresh", now + dt.timedelta(minutes=5))  # still a replay


def test_an_ec_key_issuer_is_trusted_too(trusting):
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    application = trusting({"iss": ISS, "jwks": {"keys": [{**public, "kid": "ec-1"}]}})
    signed = token(key, SIGN, kid="ec-1", alg="ES384")
    response = application.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                                              headers={"Authorization": f"Bearer {signed}"})
    assert response.status_code == 200


def test_without_trusted_issuers_hook_calls_are_refused(settings):
    application = create_app(settings)
    try:
        response = application.test_client().post(SIGN, json=hook_body("order-sign", [IBUPROFEN_600]),
                                                  headers={"Authorization": "Bearer abc.def.ghi"})
        assert response.status_code == 401
    finally:
        application.extensions["store"].engine.dispose()


# ------------------------------------------------------------------------------------------ FHIR server fallback
def _fhir_body(server_url: str, prefetch: dict | None = None) -> dict:
    return hook_body("order-sign", [IBUPROFEN_600], prefetch if prefetch is not None else {},
                     fhirServer=server_url,
                     fhirAuthorization={"access_token": "fhir-token", "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": "stewardship"})


def test_what_prefetch_left_out_is_read_from_the_fhir_server(call_with_fhir):
    resources = [prefetch_78_ckd4_on_warfarin()["patient"], CKD4, WARFARIN,
                 observation("2160-0", 2.1, "mg/dL"), observation("29463-7", 61, "kg")]
    with FhirServer(resources, token="fhir-token") as server:
        response = call_with_fhir(server.base)(SIGN, _fhir_body(server.base))
    assert response.status_code == 200
    assert card_for(response, "renal")["indicator"] == "critical"
    assert card_for(response, "bleeding")["indicator"] == "critical"


def test_a_repeated_call_that_would_ask_the_fhir_server_is_answered_without_asking_it_again(trusting, ehr_key):
    resources = [prefetch_78_ckd4_on_warfarin()["patient"], CKD4, WARFARIN,
                 observation("2160-0", 2.1, "mg/dL"), observation("29463-7", 61, "kg")]
    with FhirServer(resources, token="fhir-token") as server:
        post = poster(trusting(issuer_entry(ehr_key, fhir_servers=(server.base,))), ehr_key)
        body = _fhir_body(server.base)
        first = post(SIGN, body)
        asked = list(server.queries)
        second = post(SIGN, body)
    assert asked and server.queries == asked
    assert second.status_code == 200 and second.get_json() == first.get_json()


def test_a_dead_fhir_server_fails_soft_with_a_card_saying_what_was_not_checked(call_with_fhir):
    with FhirServer([], fail_with=503) as server:
        prefetch = {"patient": prefetch_78_ckd4_on_warfarin()["patient"]}
        response = call_with_fhir(server.base)(SIGN, _fhir_body(server.base, prefetch))
    assert response.status_code == 200
    unchecked = [c for c in response.get_json()["cards"] if c["summary"].startswith("Not checked")]
    assert unchecked and unchecked[0]["indicator"] == "warning"


def test_a_slow_fhir_server_costs_at_most_its_timeout(call_with_fhir):
    with FhirServer([], delay=3) as server:
        post = call_with_fhir(server.base, fhir_timeout=0.3)
        started = time.monotonic()
        response = post(SIGN, _fhir_body(server.base, {"patient": prefetch_78_ckd4_on_warfarin()["patient"],
                                                      "conditions": None, "medications": None}))
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed < 2.5  # three lab queries, each cut at 0.3 s


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_synthea_sample_patient_is_checked_without_error(call_with_fhir):
    resources = load_samples()
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    with FhirServer(resources) as server:
        call = call_with_fhir(server.base)
        for person in patients:
            body = hook_body("order-sign", [IBUPROFEN_600], {}, fhirServer=server.base)
            body["context"]["patientId"] = person["id"]
            response = call(SIGN, body)
            assert response.status_code == 200, (person["id"], response.get_json())


# ---------------------------------------------------------------------------------------------------- feedback
def test_feedback_is_stored_against_the_check_once(call, cds_app):
    cards = call(SIGN, hook_body("order-sign", [IBUPROFEN_600])).get_json()["cards"]
    renal = next(c for c in cards if shows([c], "renal"))
    items = {"feedback": [
        {"card": renal["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": renal["suggestions"][0]["uuid"]}],
         "outcomeTimestamp": "2026-11-27T10:00:00Z"},
        {"card": cards[-1]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-27T10:01:00Z",
         "overrideReason": {"reason": {"system": "urn:stewardship:override-reason", "code": "palliative-care",
                                       "display": "Palliative or end-of-life care"}, "userComment": "hospice"}}]}
    path = f"{SIGN}/feedback"
    assert call(path, items).status_code == 200
    assert call(path, items).status_code == 200  # duplicates are expected; stored once
    with cds_app.extensions["store"].engine.connect() as connection:
        rows = connection.execute(select(cds_feedback)).mappings().all()
    assert len(rows) == 2 and all(r["check_id"] for r in rows)
    assert {r["override_code"] for r in rows} == {None, "palliative-care"}


def test_malformed_feedback_is_a_400(call):
    response = call(f"{SIGN}/feedback", {"feedback": [{"card": "x", "outcome": "loved"}]})
    assert response.status_code == 400
    assert {"feedback[0].outcome", "feedback[0].outcomeTimestamp"} <= set(response.get_json()["fields"])


def test_feedback_needs_a_token_for_its_own_url(cds_app, ehr_key):
    wrong_aud = token(ehr_key, SIGN)  # minted for the service, not for /feedback
    response = cds_app.test_client().post(f"{SIGN}/feedback", json={"feedback": []},
                                          headers={"Authorization": f"Bearer {wrong_aud}"})
    assert response.status_code == 401


def test_codes_that_do_not_map_become_info_cards_never_errors(call):
    prefetch = prefetch_78_ckd4_on_warfarin()
    simvastatin = medication_request("rx-statin", "316672", status="active", dose={"value": 1}, per_day=1)
    prefetch["medications"] = bundle(WARFARIN, simvastatin)
    prefetch["conditions"] = bundle(CKD4, {**CKD4, "id": "c-lipid", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "55822004"}]}})
    response = call(SIGN, hook_body("order-sign", [IBUPROFEN_600], prefetch))
    assert response.status_code == 200
    unresolved = [c for c in response.get_json()["cards"] if shows([c], "unresolved")]
    assert unresolved and all(c["indicator"] == "info" and "overrideReasons" not in c for c in unresolved)
    assert all(f["severity"] == "info" for f in findings_shown(response) if f["category"] == "unresolved")
