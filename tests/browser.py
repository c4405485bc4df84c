"""The dashboard in headless Debian Chromium, driven by Playwright's driver (never its own browser
download; ``scripts/ensure-chromium.sh`` installs the browser, ``make test`` runs it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
OUTPUT = Path(__file__).resolve().parent / "output"


@contextmanager
def dashboard(url: str) -> Iterator[tuple[Page, list[str]]]:
    """The page at ``url``/ loaded in a 1280x1000 window, and the list of every URL it requests."""
    assert CHROMIUM.exists(), "run scripts/ensure-chromium.sh (make test does)"
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url + "/")
            yield page, requested
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``tests/output/<name>``."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / name
    page.screenshot(path=str(path), full_page=True)
    return path
