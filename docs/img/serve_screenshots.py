"""Makes docs/img/serve-search.png, serve-photo.png and serve-report.png: the demo library of
docs/img/screenshots.py (small synthetic photos with EXIF, near-duplicate copies, a blurry, a
dark and a broken file) indexed with random ML weights (the only ones here: hence the banner,
the meaningless ranking and the random boxes, YOLO at confidence 0), served by
`photoanalyze serve` on a free port of 127.0.0.1, and shot in headless Chromium at 1280
pixels wide.

    python docs/img/serve_screenshots.py   # needs chromium, chromium-driver and selenium
"""

from __future__ import annotations

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
        server = subprocess.Popen(
            [*run, "serve", "--db", str(db), "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            shoot(server.stdout.readline().strip().rstrip("/"), root)
        finally:
            server.terminate()
            server.wait(timeout=30)


def shoot(base: str, root: Path) -> None:
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
