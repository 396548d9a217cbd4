"""An example picture uploaded to `photoanalyze serve`: the body decoded and encoded by the
real CLIP image tower (random weights, the only ones here, so the ranking means nothing and
the page says so), deleted at once, and the vector searched by; a body that is no picture
is a clear error that names no temporary file."""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import pytest
from PIL import Image

from conftest import random_weights_yaml
from serve_library import NAMES, Library, build
from support.requirements import require_installed, require_module

require_module("starlette")
require_module("httpx")


@pytest.fixture(scope="module")
def lib(tmp_path_factory) -> Library:
    return build(tmp_path_factory.mktemp("uploaded"))


def test_an_uploaded_picture_is_encoded_and_searched_by(lib, tmp_path):
    require_installed("torch", "open_clip")
    from starlette.testclient import TestClient

    from photoanalyzer.cli.app import load_checked_config
    from photoanalyzer.cli.serve import serve_settings
    from photoanalyzer.outputs.serve.app import make_app

    config = tmp_path / "random.yaml"
    config.write_text(random_weights_yaml(tmp_path / "models"))
    settings = serve_settings(load_checked_config(config), lib.db, "127.0.0.1", None, 2**20)
    app = make_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        picture = io.BytesIO()
        Image.new("RGB", (320, 240), (200, 120, 40)).save(picture, "JPEG")
        headers = {"X-File-Name": quote("my photo é.jpg"), "Accept": "application/json"}
        answer = client.post("/upload", content=picture.getvalue(), headers=headers)
        assert answer.status_code == 200, answer.text
        page = client.get(answer.json()["search"])
        assert page.status_code == 200
        shown = re.findall(r'<span class="name">([^<]*)</span>', page.text)
        assert sorted(shown) == sorted([*NAMES, "beach small.jpg"])  # every embedded photo
        assert "(uploaded) my photo é.jpg" in page.text
        assert "RANDOM CLIP weights" in page.text
        assert not any(app.state.web.upload_folder.iterdir())  # the picture is not kept

        refused = client.post("/upload", content=b"not a picture at all", headers=headers)
        assert refused.status_code == 400
        assert "cannot read the image the uploaded picture" in refused.json()["error"]
        assert "upload-" not in refused.json()["error"]  # no temporary path shown
        assert not any(app.state.web.upload_folder.iterdir())

        gone = client.get("/", params={"upload": "not-kept"})
        assert gone.status_code == 400 and "no longer kept" in gone.text
