"""Issue 14 in a real browser: the result read at a glance (one action per drug), the loop closed (apply a
suggestion, edit, check again, see what changed), a taper sheet, print, a phone's width, the keyboard, and axe-core
finding no serious or critical violation on any page."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from .conftest import axe_violations
from .test_pages_in_chromium import fill_line, sign_in

PHONE = 390


def fill_issue_case(page) -> None:
    """The issue's patient: 78, on warfarin and sertraline, ordered ibuprofen + tramadol + cyclobenzaprine."""
    page.get_by_label("Age (years)").fill("78")
    page.get_by_label("Sex").select_option("female")
    page.fill("#patient-weight", "61")
    page.fill("#patient-serumCreatinine", "1.1")
    fill_line(page, 0, "ibuprofen", "600", "mg", "TID")
    fill_line(page, 1, "tramadol", "50", "mg", "q6h")
    page.check("#regimen-1-prn")
    page.fill("#regimen-1-durationDays", "5")
    fill_line(page, 2, "cyclobenzaprine", "10", "mg", "TID")
    for index, (drug, dose) in enumerate((("warfarin", "5"), ("sertraline", "50"))):
        page.fill(f"#patient-medications-{index}-drug", drug)
        page.fill(f"#patient-medications-{index}-dose", dose)
        page.fill(f"#patient-medications-{index}-frequency", "daily")


def check_issue_case(page) -> str:
    page.goto("/")
    fill_issue_case(page)
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    return page.url


def gabapentin_past_its_decision_point(page) -> str:
    page.goto("/")
    page.get_by_label("Patient id").fill("p-7")
    page.get_by_label("Age (years)").fill("55")
    page.fill("#patient-egfr", "90")
    page.fill("#patient-medications-0-drug", "gabapentin")
    page.fill("#patient-medications-0-dose", "600")
    page.fill("#patient-medications-0-frequency", "TID")
    page.fill("#patient-medications-0-startDate", (dt.date.today() - dt.timedelta(days=60)).isoformat())
    fill_line(page, 0, "gabapentin", "600", "mg", "TID")
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    return page.url


def test_one_action_per_drug_then_one_click_applies_a_suggestion_and_says_what_changed(new_page, screenshot):
    page = new_page()
    sign_in(page, "dr.lee")
    page.goto("/")
    fill_issue_case(page)
    screenshot(page, "form")
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    first = page.url
    rows = page.locator(".action-list > li")
    assert rows.locator(".drug").all_inner_texts() == ["ibuprofen", "tramadol", "cyclobenzaprine", "Whole regimen"]
    assert rows.first.locator(".verb").inner_text() == "Substitute:"
    assert page.locator("article.finding").count() >= 10  # the full findings stay below
    lines = page.locator("table.lines tbody tr")
    assert lines.count() == 5 and "as needed" in lines.nth(1).inner_text() and "40 MME" in lines.nth(1).inner_text()
    screenshot(page, "result", height=1500)  # the part taken in at a glance: actions and lines

    rows.first.get_by_text("Why: 4 findings").click()  # the reasons unfold, each a link to its finding
    reason = rows.first.locator(".reasons a").first
    target = reason.get_attribute("href")
    reason.click()
    assert page.url.endswith(target) and page.locator(target).is_visible()

    page.get_by_role("button", name=re.compile(r"^Replace ibuprofen with acetaminophen")).click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    assert page.url != first
    changes = page.locator("section.changes")
    assert "ibuprofen 600 mg TID → acetaminophen 500 MG Oral Tablet" in changes.inner_text()
    assert "Do not combine warfarin with ibuprofen" in changes.inner_text()  # gone
    assert changes.get_by_role("link", name=re.compile("the check made")).get_attribute("href") == \
        "/" + first.split("/", 3)[3]
    assert page.locator(".action-list .drug").all_inner_texts()[0] == "tramadol"


def test_edit_opens_every_line_and_the_re_check_says_what_changed(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    check_issue_case(page)
    page.get_by_role("link", name="Edit and check again").click()
    assert page.get_by_role("heading", name="Edit and check again").is_visible()
    assert page.input_value("#regimen-1-drug") == "tramadol" and page.is_checked("#regimen-1-prn")
    assert page.input_value("#regimen-1-durationDays") == "5"
    assert page.input_value("#patient-medications-1-drug") == "sertraline"
    page.fill("#regimen-0-dose", "400")
    page.get_by_role("button", name="Check again").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    changes = page.locator("section.changes").inner_text()
    assert "Changed (ordered): ibuprofen 600 mg TID → ibuprofen 400 mg TID" in changes


def test_a_taper_gets_a_dated_sheet_for_the_patient(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    gabapentin_past_its_decision_point(page)
    page.get_by_role("link", name="Taper sheet with dates, for the patient").click()
    assert page.get_by_role("heading", name="Your plan to stop a medicine slowly").is_visible()
    steps = page.locator("table tbody tr")
    today = dt.date.today()
    assert steps.count() == 3
    assert steps.first.inner_text().split("\t") == [f"{today:%A} {today.day} {today:%B %Y}", "1,200 mg of gabapentin"]
    assert steps.last.inner_text().endswith("Stop taking gabapentin")


def test_the_printout_has_no_menus_forms_or_buttons(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    check_issue_case(page)
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    assert not page.locator("form.apply").first.is_visible() and not page.locator(".toolbar").is_visible()
    assert page.locator(".action-list").is_visible() and page.locator("article.finding").first.is_visible()
    assert page.pdf()[:4] == b"%PDF"  # Chromium lays it out for paper


def test_focus_moves_to_the_error_summary_after_a_refused_submit(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    page.get_by_label("Age (years)").fill("old")
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_load_state()
    assert page.evaluate("() => document.activeElement.id") == "error-summary"
    assert "Age" in page.locator("#error-summary").inner_text()
    page.keyboard.press("Tab")  # the next stop is the first problem's link, which leads to its field
    assert page.evaluate("() => document.activeElement.getAttribute('href')") == "#patient-age"


def _pages_of_every_kind(new_page, width: int = 1280, for_axe: bool = False):
    """(name, page) for the sign-in page, the form, a refused form, a result, a re-check, a taper sheet and the
    queue, each loaded in its own tab."""
    prescriber = new_page(width, for_axe)
    prescriber.goto("/signin")
    yield "sign-in", prescriber
    sign_in(prescriber, "dr.lee")
    yield "form", prescriber
    prescriber.get_by_label("Age (years)").fill("old")
    prescriber.get_by_role("button", name="Check this regimen").click()
    prescriber.wait_for_load_state()
    yield "refused form", prescriber
    check_issue_case(prescriber)
    yield "result", prescriber
    prescriber.get_by_role("button", name=re.compile(r"^Replace ibuprofen")).click()
    prescriber.wait_for_url(re.compile(r"/checks/"))
    yield "re-check", prescriber
    gabapentin_past_its_decision_point(prescriber)
    prescriber.goto(prescriber.url + "/taper")
    yield "taper sheet", prescriber
    pharmacist = new_page(width, for_axe)
    sign_in(pharmacist, "pat.pharmacist")
    yield "queue", pharmacist
    pharmacist.goto(prescriber.url.removesuffix("/taper"))
    yield "result for a pharmacist", pharmacist


def test_axe_core_finds_no_serious_or_critical_violation_on_any_page(new_page):
    found = {}
    for name, page in _pages_of_every_kind(new_page, for_axe=True):
        violations = axe_violations(page)
        if violations:
            found[name] = violations
    assert found == {}


@pytest.mark.parametrize("width", [PHONE])
def test_no_page_scrolls_sideways_on_a_phone(new_page, width):
    wide = {name: page.evaluate("() => document.documentElement.scrollWidth")
            for name, page in _pages_of_every_kind(new_page, width)}
    assert {name: scroll for name, scroll in wide.items() if scroll > width} == {}
