"""Browser fixtures: Playwright driving Debian's /usr/bin/chromium, so that nothing is downloaded at
test time; and a helper that saves each page at desktop and phone widths."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.support.gitremotes import http_git_server  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
ROOT = Path(__file__).resolve().parents[2]
README_SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module, stopped with it. Not pytest-playwright's session-wide browser: its
    sync API keeps an event loop running in the main thread until it stops, and every later test's
    asyncio.run() would fail."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/install test installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def screenshots(browser: Any, base_url: str, pages: dict[str, str | tuple[str, str]], folder: Path, *,
                readme: tuple[str, ...] = ()) -> list[Path]:
    """Each page of `pages` (name -> path, or (path, selector to click first)) at desktop and phone
    widths, as folder/NAME-WIDTH.png.
    With IMAGEBOT_UPDATE_SCREENSHOTS=1, the shots named in `readme` (NAME-WIDTH) also go to docs/screenshots/."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport, base_url=base_url)
        page = context.new_page()
        for name, target in pages.items():
            path, click = (target, None) if isinstance(target, str) else target
            page.goto(path, wait_until="load")
            if click:
                page.locator(click).first.click()
            # not "networkidle": a live page polls its JSON for as long as it is open
            page.wait_for_timeout(300)
            shot = folder / f"{name}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            saved.append(shot)
            if os.environ.get("IMAGEBOT_UPDATE_SCREENSHOTS") == "1" and shot.stem in readme:
                README_SHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, README_SHOTS / shot.name)
        context.close()
    return saved
