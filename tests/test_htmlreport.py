"""`photoanalyze report`: a small library through the real pipeline (random ML weights, the
only ones here), rendered, then read as files and in headless Chromium (Debian `chromium` and
`chromium-driver`, driven by selenium): counts, the pick of the near-duplicate group, the
escaped name, no broken image, no console error. One browser for the whole module. Without
Chromium the browser tests skip here, and fail in CI (CI=true), which installs it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image, ImageFilter

from conftest import Cli, random_weights_yaml
from photoanalyzer.benchmark.synthetic import exif_of, full_spec
from photoanalyzer.outputs.html_report.render import MARKER
from support.browser import BROKEN_IMAGES, chromium
from support.imagegen import textured_photo
from support.requirements import require_installed
from test_video import write_video

ODD_NAME = "small <&'\" é copy.jpg"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """A library with a near-duplicate pair (one with an odd name), a blurry and a dark photo,
    a video and a broken file, indexed by every phase and reported."""
    require_installed("torch", "open_clip")  # for the ML phase of `photoanalyze run`
    root = tmp_path_factory.mktemp("report")
    library = root / "lib"
    library.mkdir()
    original = textured_photo((1200, 900), seed=5)
    camera = exif_of(full_spec()).tobytes()  # taken 2023-07-14 near the Eiffel tower
    original.save(library / "original.jpg", quality=95, exif=camera)
    original.resize((400, 300), Image.Resampling.LANCZOS).save(library / ODD_NAME, quality=70)
    textured_photo((640, 480), seed=7).filter(ImageFilter.GaussianBlur(12)).save(
        library / "blurry.jpg"
    )
    # Textured, so that it is no near-duplicate of the video's uniform frames.
    Image.eval(textured_photo((320, 240), seed=8), lambda v: v // 16).save(library / "dark.jpg")
    write_video(library / "clip.mp4", seconds=2, fps=4, audio=False)
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture at all")
    home = root / "home"
    home.mkdir()
    cli = Cli(home)
    config = root / "random.yaml"
    config.write_text(random_weights_yaml(root / "models", yolo="confidence: 0.0"))
    db = root / "c.db"
    cli("run", str(library), "--db", str(db), "--config", str(config), "--quiet", check=False)
    result = cli("report", "--db", str(db))
    return {
        "root": root, "report": root / "c.db-report", "library": library, "db": db, "cli": cli,
        "url": result.stdout.strip(),
    }  # fmt: skip


def page(rendered: dict, name: str) -> str:
    return (rendered["report"] / name).read_text(encoding="utf-8")


def test_report_is_written_beside_the_catalog_and_its_url_printed(rendered):
    folder = rendered["report"]
    assert rendered["url"] == (folder / "index.html").as_uri()
    for name in ("duplicates", "blurry", "dark", "washed-out", "scenes", "objects", "videos"):
        assert (folder / f"{name}.html").is_file(), name
    assert (folder / "problems.html").is_file() and (folder / "report.css").is_file()


def test_every_name_is_escaped_and_links_to_the_original(rendered):
    duplicates = page(rendered, "duplicates.html")
    assert ODD_NAME not in duplicates  # never raw
    assert "small &lt;&amp;&#39;&#34; é copy.jpg" in duplicates
    links = [part.split('"')[0] for part in duplicates.split('href="file://')[1:]]
    targets = {unquote(urlparse("file://" + link).path) for link in links}
    assert str(rendered["library"] / ODD_NAME) in targets
    assert all(Path(target).is_file() for target in targets)


def test_problems_page_groups_the_broken_file_by_phase(rendered):
    problems = page(rendered, "problems.html")
    broken = str(rendered["library"] / "broken.jpg")
    for phase in ("metadata", "content"):
        assert f'data-phase="{phase}"' in problems
    assert problems.count(f">{broken}</a>") >= 2  # once under each failing phase


def test_a_missing_thumbnail_is_a_placeholder_and_portable_copies_only_once(rendered, tmp_path):
    cli, db = rendered["cli"], str(rendered["db"])
    out = tmp_path / "portable"
    first = cli("report", "--db", db, "--out", str(out), "--portable")
    copied = sorted((out / "thumbs").rglob("*.jpg"))
    assert copied and f", {len(copied)} thumbnails copied" in first.stderr
    stamps = [p.stat().st_mtime_ns for p in copied]
    started = time.perf_counter()
    again = cli("report", "--db", db, "--out", str(out), "--portable")
    assert ", 0 thumbnails copied" in again.stderr  # unchanged catalog: nothing copied again
    assert [p.stat().st_mtime_ns for p in copied] == stamps
    assert time.perf_counter() - started < 20
    portable = (out / "duplicates.html").read_text(encoding="utf-8")
    assert 'src="thumbs/' in portable and 'src="../' not in portable
    # A thumbnail gone from the cache: a placeholder, not a broken image.
    cache = rendered["root"] / "c.db-thumbnails"
    moved = tmp_path / "moved-thumbnails"
    shutil.copytree(cache, moved)
    shutil.rmtree(cache)
    try:
        cli("report", "--db", db, "--out", str(tmp_path / "linked"))
        html = (tmp_path / "linked" / "duplicates.html").read_text(encoding="utf-8")
        assert "<img" not in html and html.count('class="placeholder"') == 2
    finally:
        shutil.copytree(moved, cache)


def test_open_hands_the_url_to_the_browser(rendered, tmp_path):
    """$BROWSER stands in for the default browser (webbrowser reads it first)."""
    opener, said = tmp_path / "opener.sh", tmp_path / "opened.txt"
    opener.write_text(f'#!/bin/sh\necho "$1" > {said}\n')
    opener.chmod(0o755)
    out = tmp_path / "opened"
    result = rendered["cli"](
        "report", "--db", str(rendered["db"]), "--out", str(out), "--open",
        env={"BROWSER": str(opener)},
    )  # fmt: skip
    assert said.read_text().strip() == result.stdout.strip() == (out / "index.html").as_uri()


def test_a_folder_that_is_not_a_report_is_refused(rendered, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    refused = rendered["cli"](
        "report", "--db", str(rendered["db"]), "--out", str(tmp_path), check=False
    )
    assert refused.returncode == 2 and "not a photoanalyze report folder" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_two_catalogs_in_one_folder_get_a_report_each_and_the_old_folder_is_left(
    rendered, tmp_path
):
    """The default folder is named after the catalog (it was `report/`, which a second
    catalog in the same folder wrote over). An old `report/` is kept, with a note."""
    import sqlite3

    for name in ("a.db", "b.db"):
        with sqlite3.connect(rendered["db"]) as source, sqlite3.connect(tmp_path / name) as copy:
            source.backup(copy)
    old = tmp_path / "report"
    old.mkdir()
    (old / MARKER).write_text("an earlier rendering\n")
    (old / "index.html").write_text("the old report")
    said = []
    for name in ("a.db", "b.db"):
        result = rendered["cli"]("report", "--db", str(tmp_path / name))
        index = tmp_path / f"{name}-report" / "index.html"
        assert result.stdout.strip() == index.as_uri()
        said.append(result.stderr)
    assert str(tmp_path / "a.db") in (tmp_path / "a.db-report" / "index.html").read_text()
    assert str(tmp_path / "b.db") in (tmp_path / "b.db-report" / "index.html").read_text()
    assert all(f"{old} (the earlier default" in err for err in said)
    assert (old / "index.html").read_text() == "the old report"


# --- in the browser -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def load(driver, folder: Path, name: str) -> list[str]:
    """Open a page of the report in `folder`; the console errors it logged and the images
    that failed to load."""
    # Chromium would show its own error page for a missing file.
    assert (folder / name).is_file(), f"no page {folder / name}"
    driver.get((folder / name).as_uri())
    broken = driver.execute_async_script(BROKEN_IMAGES)
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return errors + [f"broken image {src}" for src in broken]


def test_overview_in_chromium_shows_the_counts_and_the_random_weights_warning(browser, rendered):
    from selenium.webdriver.common.by import By

    assert load(browser, rendered["report"], "index.html") == []
    present = {
        row.get_attribute("data-kind"): row.find_element(By.CLASS_NAME, "present").text
        for row in browser.find_elements(By.CSS_SELECTOR, "#file-counts tr[data-kind]")
    }
    assert present == {"photo": "5", "video": "1"}
    content = browser.find_element(By.CSS_SELECTOR, '#phase-counts tr[data-phase="content"]')
    assert content.find_element(By.CLASS_NAME, "done").text == "5"  # 4 photos and the video
    assert content.find_element(By.CLASS_NAME, "failed").text == "1"  # the broken file
    warning = browser.find_element(By.ID, "random-weights").text
    assert "results made with RANDOM CLIP weights" in warning and "their objects" in warning
    bars = browser.find_elements(By.CSS_SELECTOR, "#months rect")
    assert [
        bar.find_element(By.TAG_NAME, "title").get_attribute("textContent") for bar in bars
    ] == ["2023-07: 1"]
    assert "Testmaker Model X 12 1" in browser.find_element(By.ID, "cameras").text
    assert browser.find_elements(By.CSS_SELECTOR, "#runs tr")[1].text.startswith("#1 ")
    browser.save_screenshot(str(rendered["root"] / "report-overview.png"))


def test_duplicates_in_chromium_mark_the_pick_and_move_by_keyboard(browser, rendered):
    from selenium.webdriver.common.by import By

    assert load(browser, rendered["report"], "duplicates.html") == []
    groups = browser.find_elements(By.CLASS_NAME, "group")
    assert len(groups) == 1
    pick = groups[0].find_element(By.CSS_SELECTOR, "figure.pick")
    assert pick.get_attribute("data-path") == str(rendered["library"] / "original.jpg")
    assert (
        "largest picture (1200x900 vs 400x300)" in groups[0].find_element(By.CLASS_NAME, "why").text
    )
    other = groups[0].find_element(By.CSS_SELECTOR, "figure.member:not(.pick)")
    assert other.find_element(By.CLASS_NAME, "path").text == str(rendered["library"] / ODD_NAME)
    button = groups[0].find_element(By.CSS_SELECTOR, "button.copy")
    assert json.loads(button.get_attribute("data-paths")) == [str(rendered["library"] / ODD_NAME)]
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    assert browser.execute_script("return document.activeElement.id") == "group-1"
    button.click()
    status = groups[0].find_element(By.CLASS_NAME, "copied")
    for _ in range(200):  # the clipboard answers asynchronously (up to 20 s on a loaded machine)
        if status.text:
            break
        time.sleep(0.1)
    assert status.text == "copied 1 path"
    browser.save_screenshot(str(rendered["root"] / "report-duplicates.png"))


def test_places_page_names_the_country(rendered):
    assert "<td>France</td>" in page(rendered, "places.html")


def test_every_page_in_chromium_loads_without_errors_or_broken_images(browser, rendered):
    from selenium.webdriver.common.by import By

    names = sorted(p.name for p in rendered["report"].glob("*.html"))
    assert {f"{kind}-001.html" for kind in ("scene", "object")} <= set(names)
    for name in names:
        assert load(browser, rendered["report"], name) == [], name
    load(browser, rendered["report"], "dark.html")
    tiles = browser.find_elements(By.CSS_SELECTOR, "#quality-dark .tile")
    assert tiles[0].find_element(By.CLASS_NAME, "path").text == "dark.jpg"
    load(browser, rendered["report"], "videos.html")
    frames = browser.find_elements(By.CSS_SELECTOR, ".video .frame")
    assert frames and all(f.find_element(By.TAG_NAME, "img") for f in frames)
    assert "s" in frames[0].find_element(By.TAG_NAME, "figcaption").text


# --- pagination, without a browser ----------------------------------------------------


def test_groups_past_a_page_are_paginated_and_stale_pages_removed(tmp_path):
    """450 groups: three pages of at most 200, each linking the others; rendered again with
    fewer groups, the pages no longer needed are removed."""
    from dataclasses import replace

    from photoanalyzer.catalog import Catalog
    from photoanalyzer.outputs.html_report.data import DuplicateGroup, Member, gather
    from photoanalyzer.outputs.html_report.render import write_report

    catalog = Catalog(tmp_path / "c.db")
    empty = gather(catalog, [("content", ["photo"])], 8)
    catalog.close()

    def group(n: int) -> DuplicateGroup:
        members = [
            Member(n * 2 + k, f"/lib/{n}-{k}.jpg", None, None, 100, 100, 10, 1.0, k, k == 0, False)
            for k in range(2)
        ]
        return DuplicateGroup(members, ["larger file (10 vs 9 bytes)"])

    out = tmp_path / "report"
    written = write_report(
        replace(empty, groups=[group(n) for n in range(450)]), out, tmp_path, False
    )
    html = [
        (out / name).read_text(encoding="utf-8")
        for name in ("duplicates.html", "duplicates-2.html", "duplicates-3.html")
    ]
    assert [page.count('class="group"') for page in html] == [200, 200, 50]
    assert 'id="group-201"' in html[1] and 'href="duplicates-3.html"' in html[0]
    assert written.largest_page_bytes < 5 * 2**20
    assert all('class="placeholder"' in page and "<img" not in page for page in html)
    write_report(replace(empty, groups=[group(n) for n in range(10)]), out, tmp_path, False)
    assert not (out / "duplicates-2.html").exists() and not (out / "duplicates-3.html").exists()
    assert (out / "duplicates.html").read_text(encoding="utf-8").count('class="group"') == 10
