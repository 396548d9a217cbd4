"""`photoanalyze serve` in headless Chromium (Debian `chromium` and `chromium-driver`, driven
by selenium, as tests/test_htmlreport.py does): a search by text typed in the box, filters by
place and date, a photo page whose boxes are drawn over the picture, the report's pages; no
console error and no broken image on any of them. The server is the real application under
uvicorn on a free port of 127.0.0.1, in a thread of this process, so that the stand-in at the
open_clip boundary (tests/test_search.py) answers the text queries."""

from __future__ import annotations

import pytest

from serve_library import BOXES, Library, build
from support.browser import chromium, navigate, problems, serving_in_a_thread
from support.requirements import require_module
from test_search import standin_config, standin_open_clip  # noqa: F401 (a fixture)

require_module("starlette")
require_module("uvicorn")

pytestmark = pytest.mark.usefixtures("standin_open_clip")


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Library:
    return build(tmp_path_factory.mktemp("browsed"))


@pytest.fixture
def site(lib, tmp_path):
    """The address of a running server (in a thread; stopped after the test)."""
    from photoanalyzer.cli.app import load_checked_config
    from photoanalyzer.cli.serve import serve_settings
    from photoanalyzer.outputs.serve.app import make_app

    settings = serve_settings(
        load_checked_config(standin_config(tmp_path)), lib.db, "127.0.0.1", None, 2**20
    )
    with serving_in_a_thread(make_app(settings)) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def result_names(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results .tile .name")]


def test_search_by_text_in_the_box(browser, site, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    assert problems(browser) == []
    box = browser.find_element(By.ID, "q")
    box.send_keys("snow")
    navigate(browser, box.submit)
    assert result_names(browser)[:2] == ["snow.jpg", "snowbeach.jpg"]
    assert problems(browser) == []
    browser.save_screenshot(str(tmp_path / "serve-search.png"))


def test_filter_by_place_and_date_then_open_the_photo_and_see_its_boxes(browser, site, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "place").send_keys("Norway")
    browser.find_element(By.ID, "after").send_keys("2023")
    navigate(browser, browser.find_element(By.ID, "q").submit)
    assert result_names(browser) == ["snow.jpg"]
    browser.get(site + "/")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.ID, "place").send_keys("FR")
    browser.find_element(By.ID, "before").send_keys("2022")
    navigate(browser, browser.find_element(By.ID, "q").submit)
    assert result_names(browser) == ["beach.jpg"]
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#results .tile a.open").click)
    assert browser.find_element(By.ID, "name").text == "beach.jpg"
    assert problems(browser) == []
    picture = browser.find_element(By.ID, "thumbnail").rect
    boxes = browser.find_elements(By.CSS_SELECTOR, "#boxes rect")
    assert len(boxes) == len(BOXES)
    for shown, stored in zip(boxes, BOXES, strict=True):
        rect = shown.rect  # drawn where the detection is, on the picture as shown
        x1, y1, x2, y2 = stored["box"]
        scale = picture["width"] / 800
        assert abs(rect["x"] - (picture["x"] + x1 * scale)) < 3
        assert abs(rect["y"] - (picture["y"] + y1 * scale)) < 3
        assert abs(rect["width"] - (x2 - x1) * scale) < 3
        assert abs(rect["height"] - (y2 - y1) * scale) < 3
    browser.save_screenshot(str(tmp_path / "serve-photo.png"))


def test_more_like_this_and_the_report_pages(browser, site, lib):
    from selenium.webdriver.common.by import By

    browser.get(f"{site}/photo/{lib.ids['beach.jpg']}")
    navigate(browser, browser.find_element(By.ID, "more").click)
    assert result_names(browser)[0] == "beach small.jpg"
    assert problems(browser) == []
    navigate(browser, browser.find_element(By.LINK_TEXT, "Report").click)
    assert browser.current_url.endswith("/report/index.html")
    assert problems(browser) == []
    navigate(browser, browser.find_element(By.LINK_TEXT, "Near-duplicates").click)
    assert browser.find_elements(By.CSS_SELECTOR, ".member.pick")
    assert problems(browser) == []
