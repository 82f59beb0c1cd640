"""The review loop in a real browser (issue 14): a pharmacist finds a patient's item by id, claims it, and decides
with an intervention and the findings acted on; the prescriber reads the decision in My checks and on the check."""
from __future__ import annotations

import re

from .conftest import axe_violations
from .test_pages_in_chromium import fill_line, sign_in

PHONE = 390


def _check(page, patient_id: str) -> str:
    page.goto("/")
    page.get_by_label("Age (years)").fill("78")
    page.fill("#patient-id", patient_id)
    fill_line(page, 0, "ibuprofen", "600", "mg", "TID")
    fill_line(page, 1, "oxycodone", "5", "mg", "q6h")
    fill_line(page, 2, "gabapentin", "300", "mg", "TID")
    page.get_by_role("button", name="Check this regimen").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_a_pharmacist_searches_claims_and_decides_and_the_prescriber_reads_it_in_my_checks(new_page, screenshot):
    prescriber = new_page()
    sign_in(prescriber, "dr.lee")
    wanted = _check(prescriber, "MRN-4711")
    _check(prescriber, "MRN-9000")
    prescriber.get_by_role("link", name="My checks").click()
    rows = prescriber.locator("table.my-checks tbody tr")
    assert rows.count() == 2 and "waiting" in rows.last.inner_text()

    pharmacist = new_page()
    sign_in(pharmacist, "pat.pharmacist")
    pharmacist.get_by_label("Patient id").fill("MRN-47")
    pharmacist.get_by_role("button", name="Filter").click()
    queue = pharmacist.locator("table.queue tbody tr")
    assert queue.count() == 1 and queue.first.locator("ul.item-findings li").count() >= 2
    queue.first.get_by_role("button", name="Claim").click()
    assert pharmacist.get_by_role("status").inner_text().startswith("Claimed")
    assert "you" in pharmacist.locator("table.queue tbody tr").first.inner_text()
    pharmacist.get_by_label("Claimed").select_option("mine")
    pharmacist.get_by_role("button", name="Filter").click()
    assert pharmacist.locator("table.queue tbody tr").count() == 1
    screenshot(pharmacist, "queue-claimed")

    admin = new_page()  # a colleague sees the claim
    sign_in(admin, "ada.admin")
    admin.goto("/reviews?claimed=unassigned")
    assert all(wanted not in href for href in admin.locator("table.queue a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"))

    pharmacist.locator("table.queue tbody tr").first.get_by_role("link").click()
    pharmacist.get_by_label("changes requested").check()
    pharmacist.get_by_label("Intervention").select_option("stopped")
    pharmacist.locator("fieldset.decision-findings input[value^='renal.']").first.check()
    pharmacist.get_by_label("Note for the prescriber").fill("Stop ibuprofen; acetaminophen 650 mg q6h instead.")
    pharmacist.get_by_role("button", name="Record decision").click()
    assert pharmacist.get_by_role("status").inner_text() == "Decision recorded: changes requested."

    prescriber.reload()
    row = prescriber.locator("table.my-checks tbody tr", has=prescriber.locator(f"a[href='/checks/{wanted}']"))
    assert "Stop ibuprofen" in row.inner_text() and "stopped" in row.inner_text()
    screenshot(prescriber, "my-checks")
    row.get_by_role("link").click()
    note = prescriber.locator("section.decision-note")
    assert note.is_visible() and "Stop ibuprofen" in note.locator("blockquote").inner_text()
    assert "renal." in note.inner_text()


def test_my_checks_and_the_claimed_queue_pass_axe_and_fit_a_phone(new_page):
    prescriber = new_page(width=PHONE, for_axe=True)
    sign_in(prescriber, "dr.lee")
    made = _check(prescriber, "MRN-5150")
    pharmacist = new_page(width=PHONE, for_axe=True)
    sign_in(pharmacist, "pat.pharmacist")
    pharmacist.locator("table.queue tbody tr").first.get_by_role("button", name="Claim").click()
    pharmacist.goto(f"/checks/{made}")
    pharmacist.get_by_label("approved", exact=True).check()
    pharmacist.get_by_label("Intervention").select_option("monitoring_added")
    pharmacist.get_by_label("Note for the prescriber").fill("Fine; check bowel habit in a week.")
    pharmacist.get_by_role("button", name="Record decision").click()
    prescriber.goto("/my/checks")
    pages = [(prescriber, "/my/checks"), (prescriber, f"/checks/{made}"), (pharmacist, "/reviews?status=all")]
    for page, path in pages:
        page.goto(path)
        assert axe_violations(page) == [], path
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE, path
