"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver (no
browser download), driven by Selenium; skipped with the install command when absent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RBL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RBL_CHROMEDRIVER", "/usr/bin/chromedriver")


def start_chromium(profile: Path, window: str, prefs: dict[str, Any] | None = None) -> Any:
    """A headless Chromium with its own profile folder, logging the page's console."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).exists() and os.access(path, os.X_OK)):
            pytest.skip(f"{path} not found: apt-get install chromium chromium-driver (make slow)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={window}",
    ):
        options.add_argument(arg)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    options.set_capability("goog:loggingOptions", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    return driver
