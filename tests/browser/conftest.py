"""Browser tests: the app served by werkzeug in a thread on 127.0.0.1 (a free port, a fresh SQLite database per
test), driven by headless Chromium through Playwright. Skipped where /usr/bin/chromium is missing, unless
STEWARDSHIP_TEST_BROWSER=required (CI), where a missing browser fails the run. `playwright install` is never
needed: the system's Chromium is used.

STEWARDSHIP_SCREENSHOTS=DIR saves the pages' pictures there (docs/screenshots for the README)."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
PEOPLE = {"dr.lee": "prescriber", "pat.pharmacist": "pharmacist", "ada.admin": "admin"}


def _require_browser() -> None:
    required = os.environ.get("STEWARDSHIP_TEST_BROWSER") == "required"
    missing = None if CHROMIUM.exists() else f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing is None:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing (pip install -e '.[dev]')"
    if missing and required:
        pytest.fail(f"browser tests are required (STEWARDSHIP_TEST_BROWSER=required): {missing}")
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class LiveApp:
    url: str
    app: object


@pytest.fixture
def live_app(browser, tmp_path) -> Iterator[LiveApp]:
    from werkzeug.serving import make_server

    from adapters.storage import upgrade
    from api import create_app
    from settings import Settings
    from stewardship import accounts

    database_url = f"sqlite:///{tmp_path / 'stewardship.sqlite3'}"
    upgrade(database_url)
    app = create_app(Settings(database_url=database_url, testing=True, secret_key="browser-tests"))
    for name, role in PEOPLE.items():
        accounts.add_user(app.extensions["store"], name, role, PASSWORD)
    # one request at a time over HTTP/1.0: no keep-alive handler threads left behind when the test ends
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveApp(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        app.extensions["store"].engine.dispose()


@pytest.fixture
def new_page(browser, live_app) -> Iterator:
    """new_page() -> a page in its own browser context (its own cookies: one person each). `width` sets the
    viewport (390: a phone); `for_axe` lets axe-core's script tag in past the app's CSP (the app's own scripts are
    held to it as always)."""
    contexts = []

    def open_page(width: int = 1280, for_axe: bool = False):
        context = browser.new_context(base_url=live_app.url, viewport={"width": width, "height": 900},
                                      bypass_csp=for_axe)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """screenshot(page, name, height=None): saved under $STEWARDSHIP_SCREENSHOTS when set, else nothing; the whole
    page, or its top `height` pixels."""
    folder = os.environ.get("STEWARDSHIP_SCREENSHOTS")

    def save(page, name: str, height: int | None = None) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height} if height else None
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, clip=clip)
    return save


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"  # axe-core 4.14.1, MPL-2.0 (vendor/axe-core)
SERIOUS = ("serious", "critical")


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands (WCAG 2.x A and AA rules and best
    practices), one line each: rule, impact, and the first offending elements."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert results["passes"], "axe-core checked nothing"  # a silent axe would pass every page
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in results["violations"] if v["impact"] in SERIOUS]
