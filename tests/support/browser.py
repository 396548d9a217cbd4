"""Headless Chromium for the browser tests (the HTML report's, serve's): Debian's chromium
driven through chromium-driver, both local binaries (Selenium Manager never downloads), and
the script that finds the images a page failed to load."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from support.requirements import require_binary, require_module

# Every image made eager, then waited for: the sources of those that failed to load.
BROKEN_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(img => { img.loading = "eager"; });
const settle = () => images.every(img => img.complete)
  ? done(images.filter(img => img.naturalWidth === 0).map(img => img.getAttribute("src")))
  : setTimeout(settle, 50);
settle();
"""


def chromium() -> Iterator[Any]:
    """A headless Chromium driver that keeps the console log, quit when the generator closes
    (a fixture's body: `yield from chromium()`)."""
    binary, chromedriver = require_binary("chromium"), require_binary("chromedriver")
    require_module("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", "--allow-file-access-from-files"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()
