"""Makes docs/img/serve-search.png, serve-photo.png, serve-report.png and the people's pages:
the demo library of docs/img/screenshots.py (small synthetic photos with EXIF, near-duplicate
copies, a blurry, a dark and a broken file) indexed with random ML weights (the only ones
here: hence the banner, the meaningless ranking and the random boxes, YOLO at confidence 0),
served by `photoanalyze serve` on a free port of 127.0.0.1, and shot in headless Chromium at
1280 pixels wide. With the faces extra and ../shared/corpus/faces, four portraits of two
persons go through the faces phase too (serve-person.png, serve-faces.png): the first person
is named on its page, and the photo of its first face shows the name on the face's box.

    python docs/img/serve_screenshots.py   # needs chromium, chromium-driver and selenium
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from screenshots import EAGER, library  # noqa: E402  (docs/img is no package)

FACES = HERE.parents[2] / "shared" / "corpus" / "faces"  # ../shared/corpus of the project
# The corpus's labels (../shared/corpus/faces/README.md): whose portrait each is
PORTRAITS = {
    "deepface_img2.jpg": "Angelina",
    "deepface_img4.jpg": "Angelina",
    "deepface_img18.jpg": "Elon",
    "deepface_img19.jpg": "Elon",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        library(root / "Pictures")
        config = root / "random.yaml"
        config.write_text(
            f"ml:\n  models_dir: {root / 'models'}\n  clip:\n    pretrained: random\n"
            "  yolo:\n    weights: random\n    confidence: 0.0\n"
        )
        db = root / "catalog.db"
        run = [sys.executable, "-m", "photoanalyzer"]
        subprocess.run([*run, "run", str(root / "Pictures"), "--db", str(db), "--config",
                        str(config), "--quiet"], check=False)  # fmt: skip
        people = portraits(root / "Pictures" / "people")
        if people:
            faces = ["--phases", "metadata,content,faces"]
            subprocess.run([*run, "run", str(people), "--db", str(db), "--config", str(config),
                            "--quiet", *faces], check=True)  # fmt: skip
        server = subprocess.Popen(
            [*run, "serve", "--db", str(db), "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            shoot(server.stdout.readline().strip().rstrip("/"), root, bool(people))
        finally:
            server.terminate()
            server.wait(timeout=30)


def portraits(folder: Path) -> Path | None:
    """The portraits copied into the library, where the faces extra and the corpus are."""
    if importlib.util.find_spec("dlib") is None or not FACES.is_dir():
        print("no faces extra or no ../shared/corpus/faces: serve-person.png not made")
        return None
    folder.mkdir(parents=True)
    for name in PORTRAITS:
        shutil.copy2(FACES / name, folder / name)
    return folder


def shoot(base: str, root: Path, people: bool) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"{base}/?q=a+dog+on+a+beach&top=24")
        save(driver, root, "search")
        driver.find_element(By.CSS_SELECTOR, "#results .tile a.open").click()
        save(driver, root, "photo")
        driver.get(f"{base}/report/index.html")
        save(driver, root, "report")
        if people:
            driver.get(f"{base}/people")
            driver.find_element(By.CSS_SELECTOR, "#people figure a").click()
            first = driver.find_element(By.CSS_SELECTOR, "#faces .path").text
            driver.find_element(By.ID, "name").send_keys(PORTRAITS[first])
            driver.find_element(By.CSS_SELECTOR, "#name-form button").click()
            save(driver, root, "person")
            driver.find_element(By.CSS_SELECTOR, "#faces figure a").click()
            save(driver, root, "faces")
    finally:
        driver.quit()


def save(driver, root: Path, name: str) -> None:
    driver.execute_script(EAGER)
    time.sleep(1)  # the thumbnails, once eager, load
    shot = root / f"{name}.png"
    driver.save_screenshot(str(shot))
    # 256 colours: a page of flat colours loses nothing visible, and stays small.
    Image.open(shot).convert("RGB").quantize(256).save(HERE / f"serve-{name}.png", optimize=True)


if __name__ == "__main__":
    main()
