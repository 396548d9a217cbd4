"""`photoanalyze serve`'s application through Starlette's test client: the search page with
`search`'s query language and filters, photo pages with their boxes, the report's pages
live, and the safety rules (only thumbnails and indexed originals, by file id; the token off
loopback; loopback Host names; same-origin uploads; bounded bodies; error pages without
tracebacks). The library is real files through the real phases (serve_library.py); text
queries go through the real query encoder with the stand-in at the open_clip boundary that
tests/test_search.py uses."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import sqlite3
from pathlib import Path

import markupsafe
import pytest
from PIL import Image

from conftest import Cli
from photoanalyzer.catalog import Catalog, ResultRow
from serve_library import BOXES, NAMES, SECRET, Library, build
from support.imagegen import write_truncated_jpeg
from support.requirements import require_module
from test_search import standin_config, standin_open_clip  # noqa: F401 (a fixture)

require_module("starlette")
require_module("httpx")

LOCAL = "http://127.0.0.1:8765"
pytestmark = pytest.mark.usefixtures("standin_open_clip")


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Library:
    return build(tmp_path_factory.mktemp("serve"))


def make_client(lib: Library, config: Path, host="127.0.0.1", token=None, upload_mb=1):
    from starlette.testclient import TestClient

    from photoanalyzer.cli.app import load_checked_config
    from photoanalyzer.cli.serve import serve_settings
    from photoanalyzer.outputs.serve.app import make_app

    settings = serve_settings(load_checked_config(config), lib.db, host, token, upload_mb * 2**20)
    return TestClient(make_app(settings), base_url=LOCAL, raise_server_exceptions=False)


@pytest.fixture
def own_lib(tmp_path) -> Library:
    """A library of the test's own, which it may change."""
    return build(tmp_path / "own")


@pytest.fixture
def client(lib, tmp_path):
    with make_client(lib, standin_config(tmp_path)) as test_client:
        yield test_client


def names(html: str) -> list[str]:
    """The file names of the result tiles, in order."""
    return re.findall(r'<span class="name">([^<]*)</span>', html)


def error_of(html: str) -> str:
    found = re.search(r'id="error"[^>]*>([^<]*)<', html)
    return found.group(1) if found else ""


# -- search -----------------------------------------------------------------------------------


def test_a_text_query_ranks_as_search_does_and_links_pages_and_thumbnails(client, lib):
    page = client.get("/", params={"q": "snow"})
    assert page.status_code == 200
    # snow.jpg is the snow axis itself, snowbeach.jpg half of it (cosine 0.707), the rest 0.
    assert names(page.text)[:2] == ["snow.jpg", "snowbeach.jpg"]
    first = lib.ids["snow.jpg"]
    assert f'href="/photo/{first}"' in page.text and f'src="/thumb/{first}"' in page.text
    thumbnail = client.get(f"/thumb/{first}")
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).size[0] > 0


def test_the_query_language_and_filters_are_searchs(client, lib):
    combined = names(client.get("/", params={"q": "snow + beach - a car"}).text)
    assert combined[0] == "snowbeach.jpg"  # the sum of both axes
    paris = names(client.get("/", params={"place": "île-de-france"}).text)
    assert paris == ["beach.jpg"]  # by the Eiffel tower (the copy has no GPS)
    dated = names(client.get("/", params={"after": "2021", "before": "2022-06"}).text)
    assert dated == ["beach.jpg", "snowbeach.jpg"]  # by date, oldest first, without a query
    both = names(client.get("/", params={"q": "snow", "place": "NO", "after": "2023"}).text)
    assert both == ["snow.jpg"]  # Oslo, 2023
    flagged = names(client.get("/", params={"dark": "1"}).text)
    assert flagged == ["dark.jpg"]


def test_a_bad_value_is_a_400_naming_its_option(client):
    for params, option in (
        ({"after": "yesterday"}, "--after"),
        ({"near": "95,0,1"}, "--near"),
        ({"q": "snow", "top": "100000"}, "--top"),
        ({"q": "+"}, "QUERY"),
        ({"like": "abc"}, "like"),
    ):
        page = client.get("/", params=params)
        assert page.status_code == 400, params
        assert option in error_of(page.text), (params, error_of(page.text))


def test_no_word_of_the_search_box_opens_a_path(client, lib, tmp_path):
    """On the command line an image path is encoded; from the web box it is refused, unless
    the catalog holds its embedding (then the stored vector is used and nothing is read)."""
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (64, 48), "red").save(outside)
    for word in (str(outside), str(lib.secret), "../../etc/passwd", "~/x.jpg"):
        page = client.get("/", params={"q": word})
        assert page.status_code == 400, word
        assert "no image at" in error_of(page.text)
    indexed = client.get("/", params={"q": str(lib.folder / "car.jpg")})
    assert indexed.status_code == 200
    assert "car.jpg" not in names(indexed.text)  # the example is not among its results


def test_more_like_this_uses_the_stored_embedding(client, lib):
    page = client.get("/", params={"like": lib.ids["beach.jpg"]})
    assert page.status_code == 200
    assert names(page.text)[0] == "beach small.jpg"  # cosine 0.995
    assert "beach.jpg" not in names(page.text)
    missing = client.get("/", params={"like": 999_999})
    assert missing.status_code == 400 and "no photo 999999" in error_of(missing.text)


# -- photo pages --------------------------------------------------------------------------------


def test_a_photo_page_shows_facts_scenes_boxes_and_near_duplicates(client, lib):
    page = client.get(f"/photo/{lib.ids['beach.jpg']}").text
    assert "Canon EOS R5" in page and "Neuilly-sur-Seine" in page and "a beach" in page
    assert re.search(r'<svg viewBox="0 0 800 600"', page)  # the upright original's frame
    rects = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', page)
    expected = [(b["box"][0], b["box"][1], b["box"][2] - b["box"][0], b["box"][3] - b["box"][1])
                for b in BOXES]  # fmt: skip
    assert [tuple(float(v) for v in rect) for rect in rects] == expected
    near = page.split('id="near-duplicates"')[1].split("</div>")[0]
    assert "beach small.jpg" in near
    similar = page.split('id="similar"')[1].split("</div>")[0]
    assert names(similar)[0] == "beach small.jpg"
    assert client.get("/photo/999999").status_code == 404


# Errors stored for a truncated JPEG as the faces, ML and text phases store them (the content
# phase's is its own, from a real run); one with markup, which the page must escape.
FAILURES = {
    "faces": "image file is truncated (14 bytes not processed)",
    "ml": "cannot identify image file <b>cut.jpg</b> & no embedding",
    "text": "broken data stream when reading image file",
}


def file_id_of(lib: Library, path: Path) -> int:
    catalog = Catalog(lib.db, create=False)
    try:
        return catalog.search.known(str(path))
    finally:
        catalog.close()


def fail_phases(lib: Library, path: Path) -> None:
    """The file's faces, ML and text results replaced by final errors."""
    file_id = file_id_of(lib, path)
    catalog = Catalog(lib.db)
    try:
        run_id = catalog.runs.start(["test"], list(FAILURES))
        for phase, message in FAILURES.items():
            failed = ResultRow(file_id, None, message)
            catalog.results.save(run_id, phase, f"{phase}-test", [failed])
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Library, Path]:
    """The library with a truncated JPEG, cut.jpg, that every phase but places failed on."""
    broken_lib = build(tmp_path_factory.mktemp("broken"))
    cut = write_truncated_jpeg(broken_lib.folder / "cut.jpg")
    Cli(broken_lib.root / "home")("run", str(broken_lib.folder), "--db", str(broken_lib.db),
                                  "--quiet", "--phases", "metadata,places,content")  # fmt: skip
    fail_phases(broken_lib, cut)
    return broken_lib, cut


def test_a_photo_page_shows_each_phases_error_and_claims_no_phase_has_not_run(broken, tmp_path):
    broken_lib, cut = broken
    file_id = file_id_of(broken_lib, cut)
    with make_client(broken_lib, standin_config(tmp_path)) as client:
        page = client.get(f"/photo/{file_id}")
    assert page.status_code == 200
    errors = page.text.split('id="errors"')[1].split("</ul>")[0]
    phases = re.findall(r'data-phase="(\w+)"', errors)
    assert phases == ["metadata", "content", "faces", "ml", "text"]  # the order they run in
    # The same messages as the export's
    exported = Cli(broken_lib.root / "home").export(broken_lib.db)[str(cut)]["errors"]
    assert sorted(exported) == sorted(phases)
    for phase, message in exported.items():
        assert f'data-phase="{phase}">{phase}: {markupsafe.escape(message)}</li>' in errors
    assert "cannot identify image file &lt;b&gt;cut.jpg&lt;/b&gt; &amp; no embedding" in errors
    assert "<b>" not in page.text
    assert "no thumbnail: the content phase failed on it" in page.text
    assert "the ML phase failed on it" in page.text
    for claim in ("no thumbnail yet", "has not run", "pHash within the configured distance"):
        assert claim not in page.text, claim
    near = page.text.split('id="near-duplicates"')[1].split("</div>")[0]
    assert "Not compared: the content phase failed on this file, so it has no pHash." in near


def test_an_error_to_be_tried_again_is_listed_and_not_called_a_failure(broken, tmp_path):
    """An ML error stored under no version (not the file's fault: permission denied, or an
    older version's row for a phase that could not run) is pending, as `search` counts it:
    the page lists it and says the next run tries again, not that the ML phase failed."""
    broken_lib, cut = broken
    copied = tmp_path / "retried.db"
    shutil.copy2(broken_lib.db, copied)
    with sqlite3.connect(copied) as connection:
        connection.execute(
            "UPDATE phase_status SET version = '', error = 'PermissionError: denied'"
            " WHERE phase = 'ml' AND file_id = ?",
            (file_id_of(broken_lib, cut),),
        )
    retried = dataclasses.replace(broken_lib, db=copied)
    with make_client(retried, standin_config(tmp_path)) as client:
        page = client.get(f"/photo/{file_id_of(retried, cut)}").text
    listed = page.split('id="errors"')[1].split("</ul>")[0]
    assert '<li data-phase="ml" class="retried">ml: PermissionError: denied' in listed
    assert '<li data-phase="content">' in listed  # the content phase's failure stays one
    assert "the ML phase failed on it" not in page
    assert "no embedding yet: the ML phase's last try did not reach it" in page


def test_the_search_page_counts_a_file_the_ml_phase_failed_on_apart(broken, tmp_path):
    broken_lib, _ = broken
    with make_client(broken_lib, standin_config(tmp_path)) as client:
        page = client.get("/", params={"q": "snow"})
        filtered = client.get("/", params={"q": "snow", "kind": "photo"})  # the filtered count
    for answer in (page, filtered):
        assert answer.status_code == 200
        notes = re.findall(r'<p class="note">([^<]*)</p>', answer.text)
        assert notes == [  # the same words as `photoanalyze search`
            "1 photo could not be read by the ML phase (tried again when it changes or the "
            "ML settings do): `photoanalyze report` lists it under Problems"
        ]


def test_an_indexed_original_is_served_as_indexed(client, lib):
    served = client.get(f"/original/{lib.ids['car.jpg']}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.content == (lib.folder / "car.jpg").read_bytes()
    assert served.headers["x-content-type-options"] == "nosniff"


# -- the report, live --------------------------------------------------------------------------


def test_the_reports_pages_are_served_live_and_link_by_file_id(client, lib):
    from photoanalyzer.outputs.html_report import default_folder

    overview = client.get("/report/index.html")
    assert overview.status_code == 200 and 'href="/"' in overview.text
    assert client.get("/report").url.path == "/report/index.html"
    duplicates = client.get("/report/duplicates.html").text
    beach = lib.ids["beach.jpg"]
    assert f'href="/photo/{beach}"' in duplicates and f'src="/thumb/{beach}"' in duplicates
    assert "file://" not in duplicates
    css = client.get("/report/report.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert not default_folder(lib.db).exists()  # nothing written to disk
    assert client.get("/report/nothing.html").status_code == 404


def test_the_report_is_gathered_again_after_the_catalog_changed(own_lib, tmp_path):
    moved = own_lib
    with make_client(moved, standin_config(tmp_path)) as client:
        before = client.get("/report/index.html").text
        (moved.folder / "car.jpg").unlink()
        Cli(moved.root / "home")("run", str(moved.folder), "--db", str(moved.db), "--quiet",
                                 "--phases", "metadata")  # fmt: skip
        after = client.get("/report/index.html").text
    present = re.compile(r'<tr data-kind="photo">.*?class="n present">(\d+)<', re.S)
    assert int(present.search(before).group(1)) == len(NAMES) + 1
    assert int(present.search(after).group(1)) == len(NAMES)


# -- safety -------------------------------------------------------------------------------------


TRAVERSALS = (
    "/thumb/../../secret.txt", "/thumb/..%2f..%2fsecret.txt", "/thumb/%2e%2e/%2e%2e/secret.txt",
    "/thumb/-1", "/thumb/1.5", "/thumb/999999", "/thumb/1/999", "/original/999999",
    "/original/..%2F..%2Fsecret.txt", "/static/..%2fapp.py", "/static/../app.py",
    "/static/%2e%2e%2f__init__.py", "/report/..%2f..%2fc.db", "/report/../../c.db",
    "/report/%2e%2e%2fsecret.txt", "/photo/1%00", "/photo/%2fetc%2fpasswd",
    "//etc/passwd", "/etc/passwd", "/thumb//etc/passwd", "/original/1/../../secret.txt",
)  # fmt: skip


def test_no_request_path_reaches_a_file_the_catalog_does_not_index(client, lib):
    secret_name = str(lib.secret)
    for path in (*TRAVERSALS, "/thumb/" + secret_name, "/original" + secret_name):
        answer = client.get(path)
        assert SECRET not in answer.content, path
        assert answer.status_code in (404, 400, 405), (path, answer.status_code)
        assert "Traceback" not in answer.text


def test_links_planted_in_the_cache_or_the_library_lead_nowhere(own_lib, tmp_path):
    moved = own_lib
    with make_client(moved, standin_config(tmp_path)) as client:
        snow = moved.ids["snow.jpg"]
        key = client.get(f"/photo/{snow}")  # the page works before
        assert key.status_code == 200
        thumbnails = sorted(moved.thumbnails.rglob("*.jpg"))
        for thumbnail in thumbnails:  # every cached thumbnail now a link to the secret
            thumbnail.unlink()
            thumbnail.symlink_to(moved.secret)
        photo = moved.folder / "snow.jpg"
        photo.unlink()
        photo.symlink_to(moved.secret)  # the original too
        for path in (f"/thumb/{snow}", f"/original/{snow}"):
            answer = client.get(path)
            assert answer.status_code == 404 and SECRET not in answer.content, path
        # Pages show placeholders rather than broken images where thumbnails are unreadable.
        assert client.get("/report/duplicates.html").status_code == 200


def test_only_browser_types_still_as_indexed_are_served_as_originals(own_lib, tmp_path):
    moved = own_lib
    with make_client(moved, standin_config(tmp_path)) as client:
        car = moved.folder / "car.jpg"
        stat = car.stat()
        car.write_bytes(SECRET.ljust(stat.st_size, b" "))  # same size and time, not a JPEG
        os.utime(car, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        answer = client.get(f"/original/{moved.ids['car.jpg']}")
        assert answer.status_code == 404 and SECRET not in answer.content


def test_off_loopback_every_request_needs_the_token(lib, tmp_path):
    from photoanalyzer.cli.app import load_checked_config
    from photoanalyzer.cli.serve import serve_settings
    from photoanalyzer.outputs.serve.app import make_app

    config = standin_config(tmp_path)
    settings = serve_settings(load_checked_config(config), lib.db, "0.0.0.0", None, 2**20)
    with pytest.raises(ValueError, match="needs a token"):
        make_app(settings)
    token = "t0ken-of-this-test"
    with make_client(lib, config, host="0.0.0.0", token=token) as client:
        for path in ("/", "/?q=snow", f"/thumb/{lib.ids['snow.jpg']}", "/report/index.html"):
            refused = client.get(path)
            assert refused.status_code == 403 and "token" in refused.text, path
        assert client.get("/", headers={"X-Photoanalyze-Token": "wrong"}).status_code == 403
        assert client.get("/", headers={"X-Photoanalyze-Token": token}).status_code == 200
        entered = client.get(f"/?q=snow&token={token}", follow_redirects=False)
        assert entered.status_code == 303 and entered.headers["location"] == "/?q=snow"
        assert "HttpOnly" in entered.headers["set-cookie"]
        assert "SameSite=Strict" in entered.headers["set-cookie"]
        followed = client.get(entered.headers["location"])  # the cookie carries it now
        assert followed.status_code == 200 and names(followed.text)[0] == "snow.jpg"


def test_on_loopback_only_loopback_host_names_are_answered(client):
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200
    rebound = client.get("/", headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 403 and "loopback" in rebound.text


def test_an_upload_from_another_sites_page_is_refused(client):
    answer = client.post("/upload", content=b"x", headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403


def test_bodies_are_bounded(client):
    declared = client.post(
        "/upload",
        content=b"x" * 10,
        headers={"Content-Length": str(2**30), "Accept": "application/json"},
    )
    assert declared.status_code == 413 and "larger than the 1 MB" in declared.json()["error"]

    def pieces():  # no length given: cut off at the limit
        for _ in range(4):
            yield b"\0" * 2**19

    streamed = client.post("/upload", content=pieces(), headers={"Accept": "application/json"})
    assert streamed.status_code == 413
    other = client.post("/report/index.html", content=b"x" * 2**17)  # no body elsewhere
    assert other.status_code in (405, 413)


def test_every_method_that_could_change_something_is_refused(client, lib):
    for method in ("DELETE", "PUT", "PATCH"):
        for path in ("/", f"/photo/{lib.ids['car.jpg']}", f"/original/{lib.ids['car.jpg']}"):
            assert client.request(method, path).status_code == 405
    assert (lib.folder / "car.jpg").is_file()


def test_errors_are_pages_without_tracebacks(own_lib, tmp_path):
    moved = own_lib
    with make_client(moved, standin_config(tmp_path)) as client:
        moved.db.write_bytes(b"not a catalog at all" * 100)
        for name in ("c.db-wal", "c.db-shm"):
            (moved.root / name).unlink(missing_ok=True)
        answer = client.get("/", params={"q": "snow"})
        assert answer.status_code == 500
        assert "cannot read the catalog" in answer.text and "Traceback" not in answer.text
        assert answer.headers["content-type"].startswith("text/html")


def test_security_headers_keep_pages_to_themselves(client):
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    # No referrer to other sites; the same origin gets its Origin (the people forms' POSTs)
    assert headers["referrer-policy"] == "same-origin"
