"""`GET /openapi.json` is generated from the schemas the routes load: what it says of a request field is what the
validation does (required, lengths, ranges, enums, descriptions), a body the API takes is valid by the document and
one it refuses for a documented limit is not, and a field added to a schema is described with no edit to
web/openapi.py."""
from __future__ import annotations

import copy
from collections.abc import Iterator

import jsonschema_rs  # the JSON Schema 2020-12 validator schemathesis brings (requirements.lock), as OpenAPI 3.1 uses
import pytest
from flask import Flask
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from schemathesis.specs.openapi.definitions import OPENAPI_31  # the OpenAPI 3.1 meta-schema, as schemathesis checks

from adapters.storage import upgrade
from api import create_app
from settings import Settings
from stewardship.model import CONDITIONS, ROUTES
from stewardship.prescribable import NDC_SYSTEM as NDC
from stewardship.terminology import RXNORM_SYSTEM as RXNORM
from web import openapi
from web.reminders import DueQuerySchema
from web.reviews import PageQuerySchema, QueueQuerySchema
from web.schemas import _ROUTE_WORDS, SNOMED, CheckSchema, ConditionField, LineSchema, QuantityField


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[Flask]:
    """One app for the module, on SQLite: the document depends on the routes and schemas, not the database."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'stewardship.sqlite3'}"
    upgrade(url)
    application = create_app(Settings(database_url=url, auth=True, testing=True))
    yield application
    application.extensions["store"].engine.dispose()


@pytest.fixture(scope="module")
def spec(app) -> dict:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _documented(spec: dict, name: str) -> jsonschema_rs.Validator:
    """A validator for one component, its references resolved within the document."""
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def _expected(field: fields.Field) -> dict:
    """What the document must say of a field, read from its validators."""
    expected: dict = {}
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            unit = "Items" if isinstance(field, fields.List) or getattr(field, "many", False) else "Length"
            expected.update({f"{end}{unit}": value for end, value in (("min", validator.min), ("max", validator.max))
                             if value is not None})
        elif isinstance(validator, validate.Range) and not isinstance(field, QuantityField):
            expected.update({key: value for key, value in (("minimum", validator.min), ("maximum", validator.max))
                             if value is not None})
        elif isinstance(validator, validate.OneOf):
            expected["enum"] = set(validator.choices)
    return expected


def _check(documented: dict, field: fields.Field, where: str) -> None:
    for key, value in _expected(field).items():
        if key == "enum":
            assert set(documented["enum"]) - {None} == value, where
        else:
            assert documented[key] == value, f"{where}: {key}"
    if isinstance(field, QuantityField):  # its range is in its canonical unit: the validator's message says it
        assert all(v.error in documented["description"] for v in field.validators), where
    if field.metadata.get("description"):
        assert documented["description"].startswith(field.metadata["description"]), where
    if isinstance(field, fields.List):
        _check(documented["items"], field.inner, f"{where}[]")


def test_the_document_is_openapi_3_1_with_bearer_tokens_and_one_error_shape(spec):
    assert spec["openapi"] == "3.1.0"
    assert not [error.message for error in jsonschema_rs.validator_for(OPENAPI_31).iter_errors(spec)]
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "a token from `stewardship tokens create NAME`"}
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert spec["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    bad_check = spec["paths"]["/api/v1/checks"]["post"]["responses"]["400"]
    assert bad_check["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_every_field_of_every_request_schema_is_documented_as_it_is_validated(spec):
    for name, kind in openapi.REQUEST_SCHEMAS.items():
        schema, documented = kind(), spec["components"]["schemas"][name]
        assert set(documented["properties"]) == set(schema.fields), name
        assert set(documented.get("required", ())) == {n for n, f in schema.fields.items() if f.required}, name
        assert (documented.get("additionalProperties") is False) == (schema.unknown == RAISE), name
        for field_name, field in schema.fields.items():
            _check(documented["properties"][field_name], field, f"{name}.{field_name}")


@pytest.mark.parametrize(("path", "kind"), [("/api/v1/reviews", QueueQuerySchema),
                                            ("/api/v1/my/checks", PageQuerySchema),
                                            ("/api/v1/reminders", DueQuerySchema)])
def test_every_query_parameter_is_documented_as_it_is_validated(spec, path, kind):
    parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
    schema = kind()
    assert set(parameters) == set(schema.fields)
    for name, field in schema.fields.items():
        assert parameters[name]["in"] == "query" and parameters[name]["required"] == field.required
        assert "null" not in str(parameters[name]["schema"].get("type")), "a query value is absent, never null"
        _check({**parameters[name]["schema"], **parameters[name]}, field, f"{path}?{name}")


def test_descriptions_kept_beside_other_modules_schemas_name_real_fields():
    for kind, name in openapi.DESCRIBED_ELSEWHERE:
        assert name in kind().fields, (kind.__name__, name)


def test_a_field_added_to_a_schema_is_documented_without_an_edit_to_openapi(app, monkeypatch):
    monkeypatch.setitem(LineSchema._declared_fields, "indication", fields.String(
        required=True, validate=validate.Length(max=80), metadata={"description": "why it is given"}))
    line = openapi.build(app)["components"]["schemas"]["DrugLine"]
    assert line["properties"]["indication"] == {"type": "string", "maxLength": 80, "description": "why it is given"}
    assert "indication" in line["required"]


def test_every_served_route_is_documented_and_every_documented_route_served(app):
    served = {(openapi.openapi_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" and not rule.endpoint.startswith("pages.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    paths = openapi.build(app)["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item if method != "parameters"}
    assert documented == served - {("/openapi.json", "get")}


# A body with every field and every alternative (drug text and codings, frequency words and timesPerDay, the
# condition forms): the API takes it, and so does the document.
FULL_BODY = {
    "asOf": "2025-03-01",
    "patient": {
        "id": "p-1", "birthDate": "1950-01-01", "age": 75, "sex": "female",
        "weight": {"value": 60, "unit": "kg"}, "serumCreatinine": {"value": 1.1, "unit": "mg/dL"},
        "egfr": {"value": 55, "unit": "mL/min/1.73m2"}, "crcl": None,
        "conditions": ["ckd", {"keyword": "ckd", "status": "resolved"}, {"system": SNOMED, "code": "13200003"},
                       {"text": "peptic ulcer disease", "status": "remission"}],
        "painType": None, "gestationalWeeks": None, "childPughClass": "A",
        "medications": [{"drug": {"system": NDC, "code": "12345-6789-01"}, "dose": {"value": 1, "unit": "tablet"},
                         "frequency": "BID"}],
        "outcomes": [{"drug": "naproxen", "date": "2025-01-01", "benefit": False, "painScore": 7}],
        "plannedProcedures": [],
    },
    "regimen": [
        {"drug": "Norco 5/325", "dose": {"value": 1, "unit": "tablet"}, "frequency": "q6h", "prn": True,
         "maxDailyDose": {"value": 4, "unit": "tablet"}, "route": "oral", "startDate": "2025-03-01",
         "durationDays": 5, "note": "after meals"},
        {"drug": {"system": RXNORM, "code": "855332", "display": "Warfarin Sodium 5 MG Oral Tablet"},
         "dose": {"value": 5, "unit": "mg"}, "frequency": {"timesPerDay": 1}},
    ],
}


def _with(path: str, value: object) -> dict:
    """FULL_BODY with one value replaced, at a dotted path (list indices as numbers)."""
    body = copy.deepcopy(FULL_BODY)
    *parents, last = [int(key) if key.isdigit() else key for key in path.split(".")]
    target = body
    for key in parents:
        target = target[key]
    target[last] = value
    return body


def test_a_body_the_api_takes_is_valid_by_the_document(spec):
    CheckSchema().load(copy.deepcopy(FULL_BODY))
    documented = _documented(spec, "CheckRequest")
    errors = [error.message for error in documented.iter_errors(FULL_BODY)]
    assert not errors


@pytest.mark.parametrize(("path", "value"), [
    ("regimen.0.drug", "x" * 201),                                    # a name is at most 200 characters
    ("regimen.0.drug", ""),
    ("regimen.1.drug", {"system": "http://example.org/drugs", "code": "1"}),  # RxNorm or NDC only
    ("regimen.1.drug", {"system": RXNORM, "code": "855332", "display": "x" * 201}),
    ("regimen.1.drug", {"system": RXNORM, "code": "855332", "colour": "blue"}),
    ("regimen.0.route", "teleport"),
    ("regimen.0.durationDays", 0),
    ("regimen.0.frequency", {"timesPerDay": 49}),
    ("regimen.0.frequency", {"timesPerDay": 0}),
    ("regimen.0.dose", {"value": 1, "unit": "x" * 33}),
    ("regimen.0.dose", {"value": -1, "unit": "mg"}),
    ("regimen.0.dose", {"value": 1}),
    ("regimen.0.colour", "blue"),                                     # unknown fields are refused
    ("regimen", [{"drug": "ibuprofen"}] * 101),
    ("patient.conditions.0", "not-a-keyword"),
    ("patient.conditions.0", {"text": "x" * 301}),
    ("patient.conditions.0", {"system": SNOMED, "code": "1" * 65}),
    ("patient.conditions.0", {"system": "http://example.org/codes", "code": "1"}),
    ("patient.conditions.0", {"keyword": "ckd", "status": "cured"}),
    ("patient.conditions.0", {"keyword": "ckd", "colour": "blue"}),
    ("patient.sex", "x"),
    ("patient.age", 131),
    ("patient.outcomes.0.painScore", 11),
])
def test_a_body_refused_for_a_documented_limit_is_invalid_by_the_document(spec, path, value):
    body = _with(path, value)
    with pytest.raises(ValidationError):
        CheckSchema().load(copy.deepcopy(body))
    assert not _documented(spec, "CheckRequest").is_valid(body)


def test_the_closed_vocabularies_are_the_ones_validated(spec):
    schemas = spec["components"]["schemas"]
    route = schemas["DrugLine"]["properties"]["route"]
    assert route["anyOf"][0]["enum"] == list(ROUTES)
    assert all(word in route["description"] for word in _ROUTE_WORDS)  # spellings taken as written, named
    keyword, record = schemas["Patient"]["properties"]["conditions"]["items"]["oneOf"]
    assert keyword["enum"] == record["properties"]["keyword"]["enum"] == list(CONDITIONS)
    assert set(record["properties"]) == ConditionField.RECORD_KEYS
    assert record["properties"]["status"]["enum"] == list(ConditionField.STATUSES)


def test_a_schema_no_route_names_is_an_error_not_an_anonymous_copy(app, monkeypatch):
    class Unnamed(Schema):
        note = fields.String()

    monkeypatch.setitem(LineSchema._declared_fields, "extra", fields.Nested(Unnamed))
    with pytest.raises(KeyError):
        openapi.build(app)
