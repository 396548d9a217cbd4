"""`photoanalyze serve` with people and text in photos (issue 28): the search page's person,
face-count, text and screenshot filters giving what `photoanalyze search` gives for the same
options; photo pages with faces boxed and named and text lines; face crops by face id; the
People and person pages; naming, merging and rejecting through the functions and the run
lock of `photoanalyze people`, with the server's secret, same-origin and size checks; and
the acceptance in headless Chromium: a person named on its page is that name for the real
`photoanalyze people --json` and `search --person`. One library of real portraits through
the real faces phase (serve_people_library.py); which person is whose is read from the
catalog."""

from __future__ import annotations

import html
import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import Cli
from photoanalyzer.catalog import Catalog
from photoanalyzer.library.locking import RunLock, lock_path
from photoanalyzer.outputs.html_report.faces import cut_face
from serve_people_library import SCREENSHOT, TEXTS, TOGETHER, PeopleLibrary, build
from support.browser import chromium, navigate, problems, serving_in_a_thread
from support.requirements import require_module
from test_search import InProcess, standin_config

require_module("starlette")
require_module("httpx")

LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> PeopleLibrary:
    return build(tmp_path_factory.mktemp("serve-people"))


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    return standin_config(tmp_path_factory.mktemp("config"))


def make_app(lib: PeopleLibrary, config: Path):
    from photoanalyzer.cli.app import load_checked_config
    from photoanalyzer.cli.serve import serve_settings
    from photoanalyzer.outputs.serve.app import make_app as make

    return make(serve_settings(load_checked_config(config), lib.db, "127.0.0.1", None, 2**20))


def client_of(lib: PeopleLibrary, config: Path):
    from starlette.testclient import TestClient

    return TestClient(make_app(lib, config), base_url=LOCAL, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(lib, config):
    """A server over the shared library: for tests that only read."""
    with client_of(lib, config) as test_client:
        yield test_client


@pytest.fixture
def own(lib, tmp_path, config):
    """(library copy, client) for a test that writes."""
    copied = lib.copy(tmp_path / "own")
    with client_of(copied, config) as test_client:
        yield copied, test_client


def names(html: str) -> list[str]:
    return sorted(re.findall(r'<span class="name">([^<]*)</span>', html))


def secret_of(html: str) -> str:
    return re.search(r'name="secret" value="([^"]+)"', html).group(1)


def persons(db: Path) -> dict[int, tuple[str | None, int]]:
    """person id -> (name, faces), as `photoanalyze people` lists them."""
    catalog = Catalog(db, create=False)
    try:
        return {p.id: (p.name, p.faces) for p in catalog.people.list_persons()}
    finally:
        catalog.close()


# -- the search page's filters: exactly `search`'s ---------------------------------------------


SAME_AS_SEARCH = [
    ({"person": ["Angelina"]}, ["--person", "Angelina"]),
    ({"person": ["Angelina", "Elon"]}, ["--person", "Angelina", "--person", "Elon"]),
    (
        {"person": ["Angelina", "Elon"], "all_persons": "1"},
        ["--person", "Angelina", "--person", "Elon", "--all-persons"],
    ),
    ({"faces": "2"}, ["--faces", "2"]),
    ({"faces": "1-1"}, ["--faces", "1-1"]),
    ({"no_faces": "1"}, ["--no-faces"]),
    ({"text": ["wifi"]}, ["--text", "wifi"]),
    ({"text": ["wifi", "guest"]}, ["--text", "wifi", "--text", "guest"]),
    ({"text": ['"cafe creme"']}, ["--text", '"cafe creme"']),
    ({"text": ['"creme cafe"']}, ["--text", '"creme cafe"']),
    ({"text": ["wifi"], "screenshots": "1"}, ["--text", "wifi", "--screenshots"]),
    ({"text": ["wifi"], "screenshots": "0"}, ["--text", "wifi", "--no-screenshots"]),
    ({"screenshots": "0", "faces": "1"}, ["--no-screenshots", "--faces", "1"]),
]


def test_people_and_text_filters_find_what_search_finds(lib, capsys, monkeypatch, config, tmp_path):
    cli = InProcess(capsys, monkeypatch, config)
    # Names, not ids, in the library: the persons are named as a user would, on a copy.
    named = lib.copy(tmp_path / "named")
    with client_of(named, config) as own_client:
        for who, person in lib.persons.items():
            page = own_client.get(f"/person/{person}")
            own_client.post(
                f"/person/{person}/name", data={"name": who, "secret": secret_of(page.text)}
            )
        seen = set()
        for params, options in SAME_AS_SEARCH:
            code, out, err = cli(named.db, *options, "--json")
            assert code == 0, err
            expected = sorted(Path(r["path"]).name for r in json.loads(out)["results"])
            page = own_client.get("/", params=params)
            assert page.status_code == 200, (params, page.text)
            assert names(page.text) == expected, params
            seen.add(tuple(expected))
    assert len(seen) >= 8  # the cases tell the files apart, not all alike or all empty


def test_a_text_search_shows_the_matching_line_and_a_tile_its_persons(lib, client):
    page = client.get("/", params={"text": "password"})
    assert names(page.text) == ["deepface_img4.jpg"]
    assert re.findall(r'<span class="text-line">([^<]*)</span>', page.text) == [
        "WIFI PASSWORD ab12"
    ]
    angelina = lib.persons["Angelina"]
    assert f'<a href="/person/{angelina}">person {angelina}</a>' in page.text
    plain = client.get("/", params={"person": str(angelina)})
    assert 'class="text-line"' not in plain.text  # as search: the line only with --text


def test_bad_people_filters_are_searchs_messages(client):
    for params, message in [
        ({"faces": "2", "no_faces": "1"}, "--faces and --no-faces contradict"),
        ({"person": "Nobody"}, "--person: no person 'Nobody'"),
        ({"faces": "two"}, "--faces: 'two'"),
        ({"text": '""'}, "--text"),
        ({"screenshots": "maybe"}, "screenshots: 'maybe'"),
    ]:
        answer = client.get("/", params=params)
        assert answer.status_code == 400, params
        assert message in html.unescape(answer.text), params


# -- photo pages, crops, people pages ------------------------------------------------------------


def test_the_photo_page_boxes_and_names_its_faces(lib, client):
    page = client.get(f"/photo/{lib.ids[TOGETHER]}").text
    drawn = re.findall(r'<g class="face" data-face="(\d+)">(.*?)</g>', page)
    assert len(drawn) == 2
    catalog = Catalog(lib.db, create=False)
    try:
        faces = catalog.people.faces_of_file(str(lib.folder / TOGETHER))
    finally:
        catalog.close()
    assert sorted(int(face) for face, _ in drawn) == sorted(face.id for face in faces)
    viewbox = re.search(r'<svg viewBox="0 0 (\d+) (\d+)"', page).groups()
    width, height = (int(v) for v in viewbox)
    for face in faces:
        body = dict(drawn)[str(face.id)]
        x, y = (float(v) for v in re.search(r'<rect x="([\d.]+)" y="([\d.]+)"', body).groups())
        # The stored box (normalized on the upright picture), in the picture's frame
        assert abs(x - face.box[0] * width) < 1 and abs(y - face.box[1] * height) < 1
        assert f'<a href="/person/{face.person_id}">' in body
        assert f"/face/{face.id}" in page  # its crop in the list of faces
    assert sorted(re.findall(r'<li data-face="(\d+)">', page)) == sorted(f for f, _ in drawn)


def test_the_photo_page_shows_text_lines_and_the_screenshot_flag(lib, client):
    shot = client.get(f"/photo/{lib.ids[SCREENSHOT]}").text
    lines = re.search(r'<ol id="text-lines">(.*?)</ol>', shot).group(1)
    assert re.findall(r"<li>([^<]*)</li>", lines) == TEXTS[SCREENSHOT][0].splitlines()
    assert "A screenshot (a screenshot's file name)." in html.unescape(shot)
    photo = client.get(f"/photo/{lib.ids['deepface_img4.jpg']}").text
    assert "Not a screenshot." in photo and "<li>WIFI PASSWORD ab12</li>" in photo
    none = client.get(f"/photo/{lib.ids['deepface_img18.jpg']}").text
    assert "No text found in it." in none


def test_a_face_crop_is_cut_from_the_thumbnail_by_face_id(lib, client):
    catalog = Catalog(lib.db, create=False)
    try:
        (face,) = catalog.people.faces_of_file(str(lib.folder / "deepface_img18.jpg"))
        key = catalog.photos.thumbnail(lib.ids["deepface_img18.jpg"])
    finally:
        catalog.close()
    answer = client.get(f"/face/{face.id}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(answer.content)) as crop:
        assert crop.format == "JPEG" and max(crop.size) <= 160
        served = np.asarray(crop.convert("RGB"), dtype=np.float32)
    # The report's cut of that face's box from that file's thumbnail (not another face's).
    with Image.open(lib.thumbnails / key) as thumbnail:
        expected = np.asarray(cut_face(thumbnail, face.box), dtype=np.float32)
    assert served.shape == expected.shape and np.abs(served - expected).mean() < 4
    again = client.get(f"/face/{face.id}", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/face/abc",
        "/face/-1",
        "/face/1.5",
        "/face/999999",
        "/face/99999999999999999999999",
        "/face/..%2F..%2Fpa.db",
        "/face//etc/passwd",
        "/person/abc",
        "/person/999999",
        "/person/99999999999999999999999",
    ],
)
def test_unknown_or_malformed_ids_are_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404, path
    assert "Traceback" not in answer.text


def test_the_people_page_and_the_live_reports_show_real_crops(lib, client):
    page = client.get("/people").text
    cards = dict(re.findall(r'data-person="(\d+)"><a href="/person/\d+"><img src="([^"]+)"', page))
    assert set(cards) == {str(p) for p in persons(lib.db)}
    report = client.get("/report/people.html").text
    crops = re.findall(r'<img src="(/face/\d+)"', report)
    assert sorted(crops) == sorted(cards.values())
    for crop in crops:
        assert client.get(crop).headers["content-type"] == "image/jpeg"
    assert "name them" in report and 'href="/person/' in report


def test_a_person_page_lists_its_faces_with_forms_carrying_the_secret(lib, client):
    person = lib.persons["Elon"]
    page = client.get(f"/person/{person}").text
    secret = secret_of(page)
    faces = persons(lib.db)[person][1]
    assert page.count(f'name="secret" value="{secret}"') == 2 + faces  # name, merge, rejects
    assert f'<option value="{lib.persons["Angelina"]}">' in page  # merge into the other
    assert f'<option value="{person}">' not in page
    assert len(re.findall(r'<img src="/face/\d+"', page)) == faces
    assert "forget" not in page.lower()


# -- writes ---------------------------------------------------------------------------------------


def test_name_merge_and_reject_write_as_photoanalyze_people_does(lib, own, tmp_path):
    copied, client = own
    angelina, elon = lib.persons["Angelina"], lib.persons["Elon"]
    secret = secret_of(client.get(f"/person/{angelina}").text)
    named = client.post(
        f"/person/{angelina}/name",
        data={"name": " Angelina Jolie ", "secret": secret},
        follow_redirects=False,
    )
    assert named.status_code == 303 and named.headers["location"] == f"/person/{angelina}"
    cli = Cli(tmp_path / "home")
    listed = json.loads(cli("people", "--db", str(copied.db), "--json").stdout)
    assert {p["id"]: p["name"] for p in listed}[angelina] == "Angelina Jolie"
    # A face that is not this person: taken from it, and no longer among its faces.
    faces = json.loads(cli("people", "faces", str(elon), "--db", str(copied.db), "--json").stdout)
    taken = faces[0]["face"]
    rejected = client.post(f"/face/{taken}/reject", data={"secret": secret}, follow_redirects=False)
    assert rejected.status_code == 303 and rejected.headers["location"] == f"/person/{elon}"
    after = json.loads(cli("people", "faces", str(elon), "--db", str(copied.db), "--json").stdout)
    assert [f["face"] for f in after] == [f["face"] for f in faces[1:]]
    # Merge Elon into Angelina: one person, with the faces of both.
    merged = client.post(
        f"/person/{elon}/merge",
        data={"into": str(angelina), "secret": secret},
        headers={"Accept": "application/json"},
    )
    assert merged.json() == {"person": angelina, "page": f"/person/{angelina}"}
    assert set(persons(copied.db)) == {angelina}
    assert client.get(f"/person/{elon}").status_code == 404
    # A name another person has merges the two, as `people name` does.
    assert (
        client.post(
            f"/person/{angelina}/merge", data={"into": str(angelina), "secret": secret}
        ).status_code
        == 400
    )


def test_a_name_in_use_merges_into_its_person(lib, own):
    copied, client = own
    angelina, elon = lib.persons["Angelina"], lib.persons["Elon"]
    secret = secret_of(client.get(f"/person/{elon}").text)
    client.post(f"/person/{angelina}/name", data={"name": "Anna", "secret": secret})
    answer = client.post(
        f"/person/{elon}/name", data={"name": "ANNA", "secret": secret}, follow_redirects=False
    )
    assert answer.headers["location"] == f"/person/{angelina}"
    assert persons(copied.db) == {angelina: ("Anna", sum(f for _, f in persons(lib.db).values()))}


@pytest.mark.parametrize(
    "secret, headers",
    [
        (None, {}),
        ("a guess", {}),
        ("the server's", {"Origin": "http://evil.example"}),  # another site's page
        ("the server's", {"Referer": "http://evil.example/page"}),
        ("the server's", {"Origin": "null"}),  # an opaque origin (a sandboxed frame)
        ("the server's", {"Origin": "http://127.0.0.1:9999"}),  # another port: another site
    ],
)
def test_a_write_without_the_secret_or_from_another_origin_is_refused(lib, own, secret, headers):
    copied, client = own
    person = lib.persons["Elon"]
    body = {"name": "Mallory"}
    if secret == "the server's":
        body["secret"] = secret_of(client.get(f"/person/{person}").text)
    elif secret is not None:
        body["secret"] = secret
    why = (secret, headers)
    before = persons(copied.db)
    answer = client.post(f"/person/{person}/name", data=body, headers=headers)
    assert answer.status_code == 403, why
    assert persons(copied.db) == before


def test_bodies_are_small_forms(lib, own):
    copied, client = own
    person = lib.persons["Elon"]
    secret = secret_of(client.get(f"/person/{person}").text)
    before = persons(copied.db)
    big = client.post(f"/person/{person}/name", data={"name": "x" * 5000, "secret": secret})
    assert big.status_code == 413 and big.headers["connection"] == "close"

    def pieces():
        yield f"secret={secret}&name=".encode()
        for _ in range(100):
            yield b"y" * 1000

    streamed = client.post(
        f"/person/{person}/name",
        content=pieces(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    as_json = client.post(f"/person/{person}/name", json={"name": "J", "secret": secret})
    assert as_json.status_code == 415
    long_name = client.post(f"/person/{person}/name", data={"name": "z" * 300, "secret": secret})
    assert long_name.status_code == 400
    assert client.get(f"/person/{person}/name").status_code == 405
    assert client.post("/people/forget", data={"secret": secret}).status_code in (404, 405)
    assert persons(copied.db) == before


def test_while_a_run_holds_the_catalog_a_write_is_refused_at_once(lib, own):
    copied, client = own
    person = lib.persons["Elon"]
    secret = secret_of(client.get(f"/person/{person}").text)
    before = persons(copied.db)
    with RunLock(lock_path(copied.db)).acquire():  # what `photoanalyze run` holds
        started = time.monotonic()
        page = client.post(f"/person/{person}/name", data={"name": "Elon", "secret": secret})
        answer = client.post(
            f"/person/{person}/name",
            data={"name": "Elon", "secret": secret},
            headers={"Accept": "application/json"},
        )
        # Waiting would last until the lock is released below; 10 s bounds it on a loaded machine.
        assert time.monotonic() - started < 10
        assert page.status_code == 409
        assert "a run is indexing this catalog; try again when it ends" in page.text
        assert answer.status_code == 409 and "a run is indexing" in answer.json()["error"]
        assert client.get(f"/person/{person}").status_code == 200  # reading goes on
    assert persons(copied.db) == before
    after = client.post(f"/person/{person}/name", data={"name": "Elon", "secret": secret})
    assert after.status_code == 200 and persons(copied.db)[person][0] == "Elon"


# -- the acceptance, in headless Chromium ---------------------------------------------------------


@pytest.fixture
def site(lib, tmp_path, config):
    """(address, library copy) of a real server under uvicorn in a thread."""
    copied = lib.copy(tmp_path / "browsed")
    with serving_in_a_thread(make_app(copied, config)) as address:
        yield address, copied


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_name_a_person_in_the_browser_and_find_them_by_the_cli(lib, site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    base, copied = site
    elon = lib.persons["Elon"]
    browser.get(base + "/people")
    assert problems(browser) == []
    person_link = browser.find_element(By.CSS_SELECTOR, f'figure[data-person="{elon}"] a')
    navigate(browser, person_link.click)
    assert problems(browser) == []
    crops = browser.find_elements(By.CSS_SELECTOR, "#faces img.crop")
    assert len(crops) == persons(copied.db)[elon][1]
    field = browser.find_element(By.ID, "name")
    field.clear()
    field.send_keys("Elon Musk")
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#name-form button").click)
    assert browser.find_element(By.ID, "person-name").text == "Elon Musk"
    assert browser.current_url == f"{base}/person/{elon}"
    assert problems(browser) == []
    browser.save_screenshot(str(tmp_path / "serve-person.png"))
    cli = Cli(tmp_path / "home")
    listed = json.loads(cli("people", "--db", str(copied.db), "--json").stdout)
    assert {p["id"]: p["name"] for p in listed}[elon] == "Elon Musk"
    found = json.loads(
        cli("search", "--db", str(copied.db), "--person", "elon musk", "--json").stdout
    )
    assert sorted(Path(r["path"]).name for r in found["results"]) == sorted(
        ["deepface_img18.jpg", "deepface_img19.jpg", TOGETHER]
    )
    # The photo page names the face, and the name links back to the person.
    browser.get(f"{base}/photo/{copied.ids[TOGETHER]}")
    assert problems(browser) == []
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#boxes g.face text")]
    assert "Elon Musk" in labels
    browser.save_screenshot(str(tmp_path / "serve-photo-faces.png"))


def test_filter_by_person_and_text_in_the_browser(lib, site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = site
    browser.get(base + "/")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.CSS_SELECTOR, "input.text").send_keys("wifi")
    navigate(browser, browser.find_element(By.ID, "q").submit)
    shown = sorted(e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .name"))
    assert shown == sorted(["deepface_img4.jpg", SCREENSHOT])
    assert problems(browser) == []
    Select(browser.find_element(By.ID, "screenshots")).select_by_value("1")
    navigate(browser, browser.find_element(By.ID, "q").submit)
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .name")]
    assert shown == [SCREENSHOT]
    assert browser.find_element(By.CSS_SELECTOR, "#results .text-line").text == "wifi guest"
    browser.get(base + "/")
    browser.find_element(By.CSS_SELECTOR, "details summary").click()
    browser.find_element(By.CSS_SELECTOR, "input.person").send_keys(str(lib.persons["Angelina"]))
    browser.find_element(By.ID, "faces").send_keys("2")
    navigate(browser, browser.find_element(By.ID, "q").submit)
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .name")]
    assert shown == [TOGETHER]
    assert problems(browser) == []
