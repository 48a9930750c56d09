"""Debian's Chromium driven by Playwright, for the browser tests (test_browser, test_jupyterhub).

Playwright's own browser download never runs here (it cannot, on a closed network): Playwright
launches the system Chromium through ``executable_path``, headless, with a fresh temporary
profile (--user-data-dir) for every launch.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path(os.environ.get("DLCOURSE_CHROMIUM", "/usr/bin/chromium"))
# Headless, and nothing that reaches for the network (the machine's network is closed: without
# the background-networking flags Chromium keeps trying, and failing, to reach Google).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "docs" / "images"
# DLCOURSE_SCREENSHOTS=1: the browser tests also write the guides' pictures into docs/images/.
SCREENSHOTS = os.environ.get("DLCOURSE_SCREENSHOTS", "") not in ("", "0")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
                "(apt-get install chromium; .ci/run does) or set DLCOURSE_CHROMIUM")
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    return None


@contextmanager
def chromium() -> Iterator:
    """A Playwright ``Browser`` on the system Chromium."""
    from playwright.sync_api import sync_playwright

    if SCREENSHOTS:
        fonts = subprocess.run(["fc-list", ":lang=ja"], capture_output=True, text=True).stdout
        if not fonts.strip():
            raise RuntimeError("DLCOURSE_SCREENSHOTS needs a Japanese font "
                               "(apt-get install fonts-noto-cjk)")
        IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> None:  # noqa: ANN001 (playwright Page)
    """``docs/images/<name>`` when DLCOURSE_SCREENSHOTS is set."""
    if SCREENSHOTS:
        page.screenshot(path=str(IMAGES / name))
