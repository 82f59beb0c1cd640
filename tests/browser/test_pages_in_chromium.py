"""The pages in a real browser: a prescriber checks a regimen, a pharmacist finds it first in the queue and
decides; roles, CSRF and escaping as a user meets them."""
from __future__ import annotations

import re

import pytest

from .conftest import PASSWORD, PEOPLE


def sign_in(page, name: str) -> None:
    page.goto("/signin")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def fill_line(page, index: int, drug: str, dose: str, unit: str, frequency: str) -> None:
    page.fill(f"#regimen-{index}-drug", drug)
    page.fill(f"#regimen-{index}-dose", dose)
    page.select_option(f"#regimen-{index}-dose-unit", unit)
    page.fill(f"#regimen-{index}-frequency", frequency)


def test_a_prescriber_checks_and_a_pharmacist_reviews_first_in_the_queue(new_page, screenshot):
    prescriber = new_page()
    sign_in(prescriber, "dr.lee")
    assert prescriber.get_by_role("heading", name="Check a pain regimen").is_visible()
    prescriber.get_by_label("Age (years)").fill("78")
    prescriber.get_by_label("Sex").select_option("female")
    prescriber.fill("#patient-weight", "61")
    prescriber.fill("#patient-serumCreatinine", "1.9")
    prescriber.select_option("#patient-serumCreatinine-unit", "mg/dL")
    prescriber.get_by_label("chronic kidney disease (CKD)").check()
    prescriber.locator("#regimen-0-drug").press_sequentially("ibu")  # the autocomplete asks the server
    prescriber.locator("#drug-suggestions option").first.wait_for(state="attached")  # no eval: the CSP forbids it
    assert "ibuprofen" in prescriber.eval_on_selector_all("#drug-suggestions option", "os => os.map(o => o.value)")
    fill_line(prescriber, 0, "ibuprofen", "600", "mg", "TID")
    fill_line(prescriber, 1, "oxycodone", "5", "mg", "q6h")
    fill_line(prescriber, 2, "gabapentin", "300", "mg", "TID")
    prescriber.get_by_role("button", name="Check this regimen").click()
    prescriber.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    check_path = prescriber.url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    findings = prescriber.locator("article.finding")
    assert findings.filter(has_text="renal.nsaid.avoid").count() == 1
    assert findings.filter(has_text="sedation.opioid_gabapentinoid").count() == 1
    assert prescriber.locator(".derived").get_by_text("CrCl 23.5 mL/min").is_visible()
    assert prescriber.locator("svg[role=img] title").first.text_content().startswith("Sedation, constipation")

    pharmacist = new_page()
    sign_in(pharmacist, "pat.pharmacist")
    assert pharmacist.url.endswith("/reviews")
    first = pharmacist.locator("table.queue tbody tr").first
    assert first.locator("a").get_attribute("href") == f"/{check_path}"
    assert first.locator("td.num").inner_text() == "18"
    screenshot(pharmacist, "queue")
    first.locator("a").click()
    pharmacist.get_by_label("changes requested").check()
    pharmacist.get_by_label("Note for the prescriber").fill("Stop ibuprofen; acetaminophen 650 mg q6h instead.")
    pharmacist.get_by_role("button", name="Record decision").click()
    assert pharmacist.get_by_role("status").inner_text() == "Decision recorded: changes requested."
    assert pharmacist.locator(".decisions li.in-force").inner_text().startswith("changes requested by pat.pharmacist")

    prescriber.reload()  # the prescriber sees the pharmacist's decision on the check
    assert "Stop ibuprofen" in prescriber.locator(".decisions").inner_text()


@pytest.mark.parametrize("name", list(PEOPLE))
def test_only_pharmacists_and_admins_open_the_queue(new_page, name):
    page = new_page()
    sign_in(page, name)
    response = page.goto("/reviews")
    if PEOPLE[name] == "prescriber":
        assert response.status == 403 and page.get_by_role("heading", name="403 · Forbidden").is_visible()
        assert page.get_by_role("link", name="Review queue").count() == 0
    else:
        assert response.status == 200 and page.get_by_role("heading", name="Review queue").is_visible()


def test_a_form_post_without_its_csrf_token_is_refused(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    page.get_by_label("Age (years)").fill("50")
    page.fill("#regimen-0-drug", "ibuprofen")
    page.eval_on_selector("main form input[name=csrf_token]", "input => input.remove()")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Check this regimen").click()
    assert navigation.value.status == 400
    assert "security token is missing or out of date" in page.locator("main").inner_text()


def test_a_script_typed_into_a_field_is_shown_as_text(new_page):
    page = new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "dr.lee")
    typed = "<script>alert('x')</script>"
    page.get_by_label("Age (years)").fill("50")
    page.fill("#regimen-0-drug", typed)
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_url(re.compile(r"/checks/"))
    assert page.locator("table td", has_text=typed).first.inner_text() == typed  # the text, as typed
    assert dialogs == [] and page.locator("main script:not([src='/assets/print.js'])").count() == 0  # only ours


def test_add_a_line_gives_a_fresh_numbered_row(new_page):
    page = new_page()
    sign_in(page, "dr.lee")
    page.get_by_role("button", name="Add an ordered line").click()
    assert page.locator("#regimen-lines fieldset.line").count() == 4
    assert page.locator("#regimen-3-drug").evaluate("input => input.name") == "regimen[3].drug"
    assert page.get_by_label("Drug").nth(3).evaluate("input => input === document.activeElement")
