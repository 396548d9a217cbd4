"""Makes docs/img/report-overview.png and report-duplicates.png: a demo library of small
synthetic photos (EXIF from photoanalyzer.benchmark.synthetic, two years of capture times,
near-duplicate copies, a blurry and a dark photo, a broken file) indexed with random ML weights
(the only ones here, hence the banner), reported, and shot in headless Chromium at 1280 pixels
wide.

    python docs/img/screenshots.py   # needs chromium, chromium-driver and selenium
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageFilter
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from photoanalyzer.benchmark.synthetic import camera_photo, exif_of, random_spec

HERE = Path(__file__).resolve().parent
EAGER = "document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })"


def library(folder: Path) -> None:
    rng = random.Random(3)
    folder.mkdir()
    for i in range(36):
        spec = random_spec(rng)
        spec.orientation = 1
        spec.datetime_original = f"202{4 + i % 2}:{1 + i * 5 % 12:02}:{1 + i % 27:02} 10:00:00"
        picture = camera_photo(i, (800, 600))
        picture.save(folder / f"IMG_{i:04}.jpg", quality=88, exif=exif_of(spec).tobytes())
        if i % 9 == 0:  # a smaller copy, a near-duplicate the pick sets aside
            picture.resize((400, 300)).save(folder / f"IMG_{i:04} (copy).jpg", quality=70)
    camera_photo(99, (800, 600)).filter(ImageFilter.GaussianBlur(10)).save(folder / "blurry.jpg")
    Image.eval(camera_photo(98, (800, 600)), lambda v: v // 14).save(folder / "dark.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")


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
        subprocess.run([*run, "report", "--db", str(db)], check=True)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            for page, name in (("index.html", "overview"), ("duplicates.html", "duplicates")):
                driver.get((root / f"{db.name}-report" / page).as_uri())
                driver.execute_script(EAGER)
                time.sleep(1)  # the thumbnails, once eager, load from disk
                shot = root / f"{name}.png"
                driver.save_screenshot(str(shot))
                # 256 colours: a page of flat colours loses nothing visible, and stays small.
                Image.open(shot).convert("RGB").quantize(256).save(
                    HERE / f"report-{name}.png", optimize=True
                )
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
