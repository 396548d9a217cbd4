"""Headless Chromium for the browser tests (the HTML report's, serve's): Debian's chromium
driven through chromium-driver, both local binaries (Selenium Manager never downloads), the
script that finds the images a page failed to load, and serve's app under uvicorn in a
thread of the test's process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def problems(driver) -> list[str]:
    """The console errors the page logged and its images that failed to load."""
    broken = driver.execute_async_script(BROKEN_IMAGES)
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return errors + [f"broken image {src}" for src in broken]


def navigate(driver, action: Callable[[], Any], timeout: float = 30) -> None:
    """Do `action` (a click or a submit that loads a new page) and wait until the new page has
    replaced the old one and finished loading. Chromedriver may answer a click before a form's
    POST and its redirect have replaced the page, and an element found then goes stale."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = driver.find_element(By.TAG_NAME, "html")
    action()
    wait = WebDriverWait(driver, timeout)
    wait.until(expected_conditions.staleness_of(old_page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


@contextmanager
def serving_in_a_thread(app) -> Iterator[str]:
    """The address of `app` served by uvicorn on a free port of 127.0.0.1, in a thread of this
    process (so stand-ins set up by the test are in force), stopped on leaving."""
    import uvicorn

    from photoanalyzer.outputs.serve import server as serving

    sock = serving.listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield serving.address(sock, None).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(timeout=20)
