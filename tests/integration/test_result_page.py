"""The result a prescriber takes in at a glance (issue 14): one action per drug, every line as ordered and as
understood, words instead of machine keys, sources once each, and a loop that closes: edit, apply a suggestion,
check again and see what changed; a taper sheet to hand over."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from adapters.reviews import ReviewStore
from stewardship import accounts

PASSWORD = "correct horse battery"
# the patient: 78, on warfarin and sertraline, ordered ibuprofen + tramadol + cyclobenzaprine
OLDER_ON_WARFARIN = {
    "patient.age": "78", "patient.sex": "female", "patient.weight.value": "61", "patient.weight.unit": "kg",
    "patient.serumCreatinine.value": "1.1", "patient.serumCreatinine.unit": "mg/dL",
    "patient.medications[0].drug": "warfarin", "patient.medications[0].dose.value": "5",
    "patient.medications[0].dose.unit": "mg", "patient.medications[0].frequency": "daily",
    "patient.medications[1].drug": "sertraline", "patient.medications[1].dose.value": "50",
    "patient.medications[1].dose.unit": "mg", "patient.medications[1].frequency": "daily",
    "regimen[0].drug": "ibuprofen", "regimen[0].dose.value": "600", "regimen[0].dose.unit": "mg",
    "regimen[0].frequency": "TID",
    "regimen[1].drug": "tramadol", "regimen[1].dose.value": "50", "regimen[1].dose.unit": "mg",
    "regimen[1].frequency": "q6h", "regimen[1].prn": "1", "regimen[1].durationDays": "5",
    "regimen[2].drug": "cyclobenzaprine", "regimen[2].dose.value": "10", "regimen[2].dose.unit": "mg",
    "regimen[2].frequency": "TID",
}


@pytest.fixture
def prescriber(app, client):
    store = app.extensions["store"]
    for name, role in (("dr.lee", "prescriber"), ("dr.kim", "prescriber")):
        accounts.add_user(store, name, role, PASSWORD)
    _sign_in(client, "dr.lee")
    return client


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _sign_in(client, name: str) -> None:
    token = _csrf(client.get("/signin").get_data(as_text=True))
    client.post("/signin", data={"name": name, "password": PASSWORD, "csrf_token": token})


def _bearer(app, name: str) -> dict:
    return {"Authorization": f"Bearer {accounts.create_token(app.extensions['store'], name)}"}


def _submit(client, form: dict):
    return client.post("/", data={**form, "csrf_token": _csrf(client.get("/").get_data(as_text=True))})


def _text(page: str) -> str:
    """What a person reads: the page without its tags and attributes."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _section(page: str, heading_id: str, end: str = "</section>") -> str:
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index(end, start)]


def test_the_action_summary_gives_each_ordered_drug_one_action_with_its_reasons(prescriber):
    url = _submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]
    page = prescriber.get(url).get_data(as_text=True)
    summary = _section(page, "actions-heading")
    rows = re.findall(r'<li class="action sev-(\w+)">.*?<strong class="drug">([^<]+)</strong>.*?'
                      r'<strong class="verb">([^<]+)</strong>', summary, re.DOTALL)
    assert rows == [("critical", "ibuprofen", "Substitute:"), ("warning", "tramadol", "Monitor:"),
                    ("warning", "cyclobenzaprine", "Substitute:"), ("warning", "Whole regimen", "Add:")]
    assert "Add a laxative" in summary and "naloxone" in summary  # the regimen's advice once, not per opioid
    for anchor in set(re.findall(r'href="#(finding-\d+)"', summary)):  # every reason links to its finding
        assert f'id="{anchor}"' in page
    assert page.index('id="actions-heading"') < page.index('id="findings-heading"')  # at the top


def test_every_line_is_shown_as_ordered_and_as_understood(prescriber):
    page = prescriber.get(_submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]).get_data(as_text=True)
    lines = _text(_section(page, "lines-heading"))
    assert "ordered line 2 tramadol 50 mg q6h as needed as the product 5" in lines
    assert "tramadol (RxCUI 10689) identified by its name tramadol 200 mg (40 MME)" in lines
    assert "current medication 1 warfarin 5 mg daily no" in lines and "ibuprofen 1,800 mg" in lines


def test_people_read_words_not_machine_keys_and_each_source_once(prescriber):
    page = prescriber.get(_submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]).get_data(as_text=True)
    shown = _text(page)
    for key in ("ageYears", "serumCreatinineMgDl", "weightKg", "timesPerDay", "regimen[", "patient.medications["):
        assert key not in shown, key
    assert "age 78 years, weight 61 kg (actual body weight), female, serum creatinine 1.1 mg/dL" in shown
    beers = _section(page, "finding-" + re.search(r'id="finding-(\d+)-title"><span class="badge">warning</span> '
                                                  r'Avoid cyclobenzaprine', page)[1] + "-title", "</article>")
    assert beers.count("https://doi.org/10.1111/jgs.18372") == 1  # three citations of one work, listed once
    assert "Table 2, skeletal muscle relaxants; Table 4" in _text(beers)
    suggestion = re.search(r"<li>(Reconsider cyclobenzaprine in an older adult: [^<]+)</li>", page)[1]
    assert suggestion.endswith(tuple("abcdefghijklmnopqrstuvwxyz)")) and len(suggestion) > 120  # whole, not cut


def test_the_form_opens_again_with_every_line_filled_in(prescriber):
    url = _submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]
    form = prescriber.get(f"{url}/edit").get_data(as_text=True)
    assert f'name="previousCheckId" value="{url.rsplit("/", 1)[1]}"' in form
    for name, value in (("regimen[1].drug", "tramadol"), ("regimen[1].frequency", "q6h"),
                        ("regimen[1].durationDays", "5"), ("patient.medications[1].drug", "sertraline"),
                        ("patient.serumCreatinine.value", "1.1"), ("patient.age", "78")):
        assert re.search(rf'name="{re.escape(name)}" value="{value}"', form), name
    assert re.search(r'id="regimen-1-prn" name="regimen\[1\].prn" value="1" checked', form)


def test_an_api_check_opens_in_the_form_and_its_times_a_day_go_back_as_sent(app, prescriber):
    body = {"patient": {"age": 70, "crcl": {"value": 50, "unit": "mL/min"}, "outcomes": [
                {"drug": "gabapentin", "date": "2026-01-02", "benefit": False}]},
            "regimen": [{"drug": {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"},
                         "dose": {"value": 400, "unit": "mg"}, "frequency": {"timesPerDay": 3}}]}
    made = app.test_client().post("/api/v1/checks", json=body, headers=_bearer(app, "dr.lee")).get_json()
    form = prescriber.get(f"/checks/{made['id']}/edit").get_data(as_text=True)
    assert 'value="rxcui:5640"' in form and 'value="3 times a day"' in form
    assert "creatinine clearance" in form and "recorded outcomes" in form  # said, not dropped silently


def test_one_click_applies_a_suggestion_checks_again_and_says_what_changed(prescriber):
    url = _submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]
    page = prescriber.get(url).get_data(as_text=True)
    key = re.search(r'name="suggestion" value="([\d.]+)">\s*<button type="submit">Replace ibuprofen with '
                    r'acetaminophen', page)[1]
    applied = prescriber.post(f"{url}/apply", data={"suggestion": key, "csrf_token": _csrf(page)})
    assert applied.status_code == 303 and applied.headers["Location"] != url
    again = _text(prescriber.get(applied.headers["Location"]).get_data(as_text=True))
    assert "Applied: Replace ibuprofen with acetaminophen 500 MG Oral Tablet. Checked again." in again
    assert "Changed (ordered): ibuprofen 600 mg TID → acetaminophen 500 MG Oral Tablet 1 tablet q6h as needed" in again
    assert "Do not combine warfarin with ibuprofen" in again.split("Findings gone:")[1].split("New findings")[0]
    assert "New findings: none" in again
    assert prescriber.post(f"{url}/apply", data={"suggestion": "99.0", "csrf_token": _csrf(page)}).status_code == 400


def test_a_re_check_from_the_form_links_to_the_previous_check(app, prescriber):
    url = _submit(prescriber, OLDER_ON_WARFARIN).headers["Location"]
    previous = url.rsplit("/", 1)[1]
    changed = {**OLDER_ON_WARFARIN, "regimen[2].drug": "", "regimen[2].dose.value": "", "regimen[2].frequency": "",
               "previousCheckId": previous}
    again = prescriber.get(_submit(prescriber, changed).headers["Location"]).get_data(as_text=True)
    assert f'href="/checks/{previous}"' in _section(again, "changes-heading")
    assert "Removed (ordered): cyclobenzaprine 10 mg TID" in _text(again)
    new_id = again.split("Check <code>")[1].split("<")[0]
    assert ReviewStore(app.extensions["store"].engine).check(new_id)["request"]["previousCheckId"] == previous


def test_the_api_schema_stays_strict_about_previous_check_id(app, prescriber):
    response = app.test_client().post("/api/v1/checks", headers=_bearer(app, "dr.lee"), json={
        "patient": {"age": 50}, "regimen": [{"drug": "ibuprofen"}], "previousCheckId": "abc"})
    assert response.status_code == 400 and "previousCheckId" in response.get_data(as_text=True)


def test_a_re_check_may_not_link_to_another_prescribers_check(app, prescriber):
    other = app.test_client()
    _sign_in(other, "dr.kim")
    theirs = _submit(other, OLDER_ON_WARFARIN).headers["Location"].rsplit("/", 1)[1]
    assert _submit(prescriber, {**OLDER_ON_WARFARIN, "previousCheckId": theirs}).status_code == 404
    assert prescriber.get(f"/checks/{theirs}/edit").status_code == 404


def test_a_taper_comes_with_a_dated_sheet_for_the_patient(prescriber):
    since = (dt.date.today() - dt.timedelta(days=60)).isoformat()
    url = _submit(prescriber, {"patient.id": "p-7", "patient.age": "55", "patient.egfr.value": "90",
                               "patient.medications[0].drug": "gabapentin", "patient.medications[0].dose.value": "600",
                               "patient.medications[0].frequency": "TID", "patient.medications[0].startDate": since,
                               "regimen[0].drug": "gabapentin", "regimen[0].dose.value": "600",
                               "regimen[0].frequency": "TID"}).headers["Location"]
    page = prescriber.get(url).get_data(as_text=True)
    assert "Taper sheet" in page
    sheet = _text(prescriber.get(f"{url}/taper").get_data(as_text=True))
    today = dt.date.today()
    assert f"{today:%A} {today.day} {today:%B %Y} 1,200 mg of gabapentin" in sheet
    assert "Stop taking gabapentin" in sheet
    clean = _submit(prescriber, {"patient.age": "50", "regimen[0].drug": "acetaminophen",
                                 "regimen[0].dose.value": "500", "regimen[0].frequency": "q6h"}).headers["Location"]
    assert prescriber.get(f"{clean}/taper").status_code == 404


def test_a_clean_regimen_says_there_is_nothing_to_change(prescriber):
    url = _submit(prescriber, {"patient.age": "40", "patient.egfr.value": "95", "regimen[0].drug": "acetaminophen",
                               "regimen[0].dose.value": "500", "regimen[0].frequency": "q6h"}).headers["Location"]
    summary = _text(_section(prescriber.get(url).get_data(as_text=True), "actions-heading"))
    assert "No warning or critical finding: nothing in this regimen needs changing." in summary


def test_a_refused_form_names_fields_in_words(prescriber):
    page = _submit(prescriber, {**OLDER_ON_WARFARIN, "regimen[0].frequency": ""}).get_data(as_text=True)
    assert ">Ordered line 1: how often</a>: give a frequency with a dose" in page
