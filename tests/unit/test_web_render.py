"""The pages' pure helpers: safe markdown and links, the burden picture's rows, the form as a check body, and
the session key that survives restarts."""
from __future__ import annotations

from werkzeug.datastructures import MultiDict

from web import check_form, render, sessions


def test_markdown_is_escaped_before_bold_lists_and_breaks_are_added():
    html = str(render.markdown_lite("CrCl **23.5** <b>x</b>\nnext\n\n- one <script>\n- **two**"))
    assert html == ("<p>CrCl <strong>23.5</strong> &lt;b&gt;x&lt;/b&gt;<br>next</p>"
                    "<ul><li>one &lt;script&gt;</li><li><strong>two</strong></li></ul>")
    assert str(render.markdown_lite(None)) == ""


def test_only_http_links_are_links():
    assert render.safe_url("https://doi.org/10.1111/jgs.18372") == "https://doi.org/10.1111/jgs.18372"
    assert render.safe_url("javascript:alert(1)") is None and render.safe_url("") is None


def test_burden_rows_per_ingredient_leave_out_drugs_without_load():
    response = {"derived": {"lines": [
        {"line": "regimen[0]", "ingredients": [{"name": "ibuprofen"}]},
        {"line": "regimen[1]", "ingredients": [{"name": "oxycodone", "burden": {"sedation": 3, "constipation": 3,
                                                                                "cnsActive": 1}}]}]}}
    assert render.burden_rows(response) == [{"drug": "oxycodone", "line": "regimen[1]", "total": 6,
                                             "loads": {"sedation": 3, "constipation": 3, "anticholinergic": 0}}]


def test_line_refs_read_as_words():
    assert render.line_label("regimen[0]") == "ordered line 1"
    assert render.line_label("patient.medications[2]") == "current medication 3"


def test_the_form_becomes_the_api_body_with_empty_rows_dropped():
    form = MultiDict([("patient.age", "78"), ("patient.sex", "female"), ("patient.weight.value", "134.5"),
                      ("patient.weight.unit", "lb"), ("patient.serumCreatinine.value", "168"),
                      ("patient.serumCreatinine.unit", "umol/L"), ("patient.conditions", "ckd"),
                      ("patient.conditions", "falls"), ("regimen[0].drug", ""), ("regimen[0].dose.unit", "mg"),
                      ("regimen[1].drug", "Norco 5/325"), ("regimen[1].dose.value", "1"),
                      ("regimen[1].dose.unit", "tablet"), ("regimen[1].frequency", "q4-6h"), ("regimen[1].prn", "1"),
                      ("regimen[1].durationDays", "5"), ("patient.medications[0].drug", "warfarin"),
                      ("patient.medications[0].startDate", "2025-01-02"), ("procedure.procedure", "facet_rfa"),
                      ("procedure.date", "2026-12-10"), ("procedure.level", "cervical")])
    typed = check_form.read_form(form)
    assert check_form.check_body(typed) == {
        "patient": {"sex": "female", "age": 78, "weight": {"value": 134.5, "unit": "lb"},
                    "serumCreatinine": {"value": 168, "unit": "umol/L"}, "conditions": ["ckd", "falls"],
                    "medications": [{"drug": "warfarin", "startDate": "2025-01-02"}],
                    "plannedProcedures": [{"procedure": "facet_rfa", "date": "2026-12-10", "level": "cervical"}]},
        "regimen": [{"drug": "Norco 5/325", "dose": {"value": 1, "unit": "tablet"}, "frequency": "q4-6h",
                     "prn": True, "durationDays": 5}]}
    assert len(typed.rows("regimen", 3)) == 3 and typed.rows("regimen", 3)[0]["drug"] == "Norco 5/325"


def test_text_that_is_no_number_goes_through_for_the_schema_to_name():
    typed = check_form.read_form(MultiDict([("patient.weight.value", "sixty")]))
    assert check_form.check_body(typed)["patient"]["weight"] == {"value": "sixty", "unit": "kg"}
    assert check_form.form_errors({"patient.plannedProcedures[0].date": "bad"}) == {"procedure.date": "bad"}


def test_the_session_key_is_made_once_and_kept(tmp_path):
    key_file = tmp_path / "var" / "secret-key"
    first = sessions.secret_key(None, key_file)
    assert len(first) >= 48 and sessions.secret_key(None, key_file) == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert sessions.secret_key("from-the-environment", key_file) == "from-the-environment"


def test_only_local_paths_are_followed_after_sign_in():
    assert sessions.safe_next("/reviews?status=open") == "/reviews?status=open"
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", None, ""):
        assert sessions.safe_next(target) is None
