"""The same drug intake for the native API and the web form: an RxNorm coding (any term type, with an optional
display tried where the code is unknown), an NDC coding, or text, including a code typed as text. Every answer
says how each drug was identified; a drug RxNorm knows but the knowledge base does not is said once as
identified-but-not-assessed, never as unidentified."""
from __future__ import annotations

import pytest

from tests.integration.test_pages import _submit, people, sign_in  # noqa: F401 - the form's fixtures and helpers

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
IBUPROFEN_TID = {"drug": "ibuprofen", "dose": {"value": 400, "unit": "mg"}, "frequency": "TID"}


def _check(client, auth_headers, medications: list, regimen: list | None = None):
    body = {"patient": {"id": "p-intake", "age": 70, "crcl": {"value": 80, "unit": "mL/min"},
                        "medications": medications}, "regimen": regimen or [IBUPROFEN_TID], "asOf": "2026-11-27"}
    return client.post("/api/v1/checks", json=body, headers=auth_headers)


def _finding(body: dict, code: str) -> dict | None:
    return next((f for f in body["findings"] if f["code"] == code), None)


def test_warfarin_855350_with_ibuprofen_is_the_critical_bleeding_finding(client, auth_headers):
    response = _check(client, auth_headers, [{"drug": {"system": RXNORM, "code": "855350"}}])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert _finding(body, "bleeding.anticoagulant_nsaid")["severity"] == "critical"
    assert body["resolved"][0]["matchedBy"] == "rxcui" and body["resolved"][0]["ingredients"][0]["name"] == "warfarin"
    assert not [f for f in body["findings"] if f["code"] == "unresolved.drug"]


def test_an_ndc_coding_identifies_warfarin(client, auth_headers, kb):
    ndc = _warfarin_ndc(kb)
    response = _check(client, auth_headers, [{"drug": {"system": NDC, "code": ndc}}])
    body = response.get_json()
    assert _finding(body, "bleeding.anticoagulant_nsaid")["severity"] == "critical"
    assert body["resolved"][0]["matchedBy"] == "ndc"


def _warfarin_ndc(kb) -> str:
    """An 11-digit NDC the offline content lists for a warfarin product (read from the data, not typed in)."""
    codes = {rxcui for rxcui, product in kb.prescribable.products.items()
             if [i.name for i in product.ingredients] == ["warfarin"]}
    return next(ndc for ndc, rxcui in kb.prescribable.ndcs() if rxcui in codes)


def test_an_unknown_code_falls_back_to_its_display_and_says_so(client, auth_headers):
    coding = {"system": RXNORM, "code": "99999999", "display": "Warfarin Sodium 5 MG Oral Tablet"}
    body = _check(client, auth_headers, [{"drug": coding}]).get_json()
    assert _finding(body, "bleeding.anticoagulant_nsaid")["severity"] == "critical"
    entry = body["resolved"][0]
    assert entry["matchedBy"] == "text" and entry["tried"][0]["input"] == "99999999"


def test_drugs_without_stewardship_facts_are_one_info_finding_naming_them(client, auth_headers):
    medications = [{"drug": {"system": RXNORM, "code": "861007"}}, {"drug": "simvastatin 20 mg"}]
    body = _check(client, auth_headers, medications, [{"drug": "acetaminophen", "dose": {"value": 500, "unit": "mg"},
                                                       "frequency": "q6h"}]).get_json()
    unresolved = [f for f in body["findings"] if f["category"] == "unresolved"]
    assert [(f["code"], f["severity"]) for f in unresolved] == [("unresolved.not_assessed", "info")]
    assert set(unresolved[0]["drugs"]) == {"metformin", "simvastatin"}
    assert [e["ingredients"][0]["assessed"] for e in body["resolved"][:2]] == [False, False]


@pytest.mark.parametrize("drug, field_message", [
    ({"system": NDC, "code": "0002015201"}, "NDC"),
    ({"system": "http://snomed.info/sct", "code": "372756006"}, "RxNorm"),
    ({"system": RXNORM, "code": "855350", "display": 5}, "display"),
])
def test_a_malformed_coding_is_a_400_naming_the_field(client, auth_headers, drug, field_message):
    response = _check(client, auth_headers, [], [{**IBUPROFEN_TID, "drug": drug}])
    assert response.status_code == 400
    assert field_message in response.get_json()["fields"]["regimen[0].drug"]


def test_resolve_takes_an_ndc_in_any_of_its_written_forms(client, auth_headers, kb):
    ndc = _warfarin_ndc(kb)
    for written in (ndc, f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}"):
        body = client.get("/api/v1/drugs/resolve", query_string={"ndc": written}, headers=auth_headers).get_json()
        assert body["matchedBy"] == "ndc" and body["ingredients"][0]["name"] == "warfarin"
    missing = client.get("/api/v1/drugs/resolve?ndc=99999-9999-99", headers=auth_headers)
    assert missing.status_code == 404 and "99999999999" in missing.get_json()["reason"]


def test_the_form_takes_a_typed_rxcui_or_ndc(client, app, people, kb):  # noqa: F811
    sign_in(client, "dr.lee")
    ndc = _warfarin_ndc(kb)
    response = _submit(client, {"patient.age": "70", "patient.medications[0].drug": "rxcui:855350",
                                "patient.medications[1].drug": f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}",
                                "regimen[0].drug": "ibuprofen", "regimen[0].dose.value": "400",
                                "regimen[0].dose.unit": "mg", "regimen[0].frequency": "TID"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "bleeding.anticoagulant_nsaid" in page and "could not be identified" not in page
