"""Is a picture a screenshot? Decided from what the file says (its name, format, size, camera,
the software that wrote it, iOS's UserComment) and, where that leaves it open, from the text
found in it. Pure rules on `FileFacts`; `file_facts` reads them from the header (no pixels).

    says so       UserComment or XMP description "Screenshot" (iOS), a screenshot tool as
                  Software (GNOME, KDE Spectacle, Windows Snipping Tool, ShareX, ...), a
                  screenshot's file name in one of the platforms' languages
    looks so      no camera make or model, and a screen's pixel size (either orientation,
                  phones and displays), or a PNG of at least 480 x 320 with some text lines
    camera        a camera make or model, or an exposure (time, f-number, ISO, focal length):
                  never a screenshot by size or format alone"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from PIL import Image

# Default screenshot names: Android (Screenshot_20240131-101502_Chrome.jpg), macOS ("Screen
# Shot 2019-05-21 at 10.45.52.png", "Screenshot 2023-01-05 at 09.12.44.png", and their
# translations), Windows ("Screenshot 2024-01-31 101502.png", "Screenshot (12).png"),
# GNOME ("Screenshot from 2024-01-31 10-15-02.png"), KDE ("Screenshot_20240131_101502.png"),
# iOS's exports (IMG_1234.PNG carry the UserComment instead).
SCREENSHOT_NAMES = re.compile(
    r"(^|[\s_\-])("
    r"screen ?shot|screencap|screen ?capture|capture d.[ée]cran|bildschirmfoto|"
    r"bildschirmaufnahme|schermafbeelding|schermata|istantanea|captura de (pantalla|ecr[ãa])|"
    r"captura de tela|zrzut ekranu|sk[äa]rmbild|sk[äa]rmavbild|skjermbilde|sk[æa]rmbillede|"
    r"n[äa]ytt[öo]kuva|ekran (resmi|g[öo]r[üu]nt[üu]s[üu])|снимок экрана|знімок екрана|"
    r"snímek obrazovky|képernyőkép|στιγμιότυπο οθόνης|スクリーンショット|屏幕截图|截屏|螢幕截圖|"
    r"스크린샷|ภาพหน้าจอ|ảnh chụp màn hình|tangkapan layar|cuplikan layar"
    r")",
    re.IGNORECASE,
)
SCREENSHOT_SOFTWARE = re.compile(
    r"screenshot|screen ?capture|spectacle|snipping|snip & sketch|sharex|greenshot|flameshot|"
    r"lightshot|shutter|ksnapshot|grim|scrot|cleanshot|snagit|gnome-screenshot",
    re.IGNORECASE,
)
# Pixel sizes of screens (short side, long side): phones, tablets, laptops and displays,
# at their native and common scaled resolutions.
SCREEN_SIZES = frozenset(
    {
        (640, 1136), (750, 1334), (828, 1792), (1080, 1920), (1125, 2436), (1170, 2532),
        (1179, 2556), (1242, 2208), (1242, 2688), (1284, 2778), (1290, 2796), (1206, 2622),
        (1320, 2868), (720, 1280), (720, 1600), (1080, 2340), (1080, 2400), (1080, 2280),
        (1080, 2160), (1440, 2560), (1440, 2960), (1440, 3040), (1440, 3088), (1440, 3120),
        (1440, 3200), (1536, 2048), (1620, 2160), (1640, 2360), (1668, 2224), (1668, 2388),
        (2048, 2732), (1200, 1920), (1600, 2560), (768, 1366), (900, 1440), (900, 1600),
        (1050, 1680), (1080, 1920), (1200, 1920), (1440, 2560), (1600, 2560), (1800, 2880),
        (1964, 3024), (2234, 3456), (1664, 2560), (1920, 3072), (2160, 3840), (1440, 3440),
        (1080, 2560), (1800, 3200), (2880, 5120), (1504, 2256), (1824, 2736), (1920, 2880),
        (1280, 2048), (800, 1280), (768, 1024), (1024, 1280), (1050, 1400), (864, 1536),
    }
)  # fmt: skip
MIN_TEXT_LINES = 3  # a PNG without a camera and a screen's size counts with this much text
MIN_PNG_SIDES = (320, 480)


class FileFacts(NamedTuple):
    name: str
    file_format: str | None  # Pillow's: JPEG, PNG, HEIF, ...
    size: tuple[int, int] | None  # as stored
    camera: bool  # a camera make or model, or an exposure, is recorded
    software: str | None
    user_comment: str | None


def file_facts(path: str) -> FileFacts:
    """The facts from the file's header: Pillow parses it without decoding pixels."""
    name = Path(path).name
    with Image.open(path) as image:
        exif = image.getexif() if image.format != "PNG" else _png_exif(image)
        base = dict(exif)
        try:
            extra = dict(exif.get_ifd(0x8769))
        except Exception:
            extra = {}
        software = base.get(0x0131) or image.info.get("Software") or image.info.get("software")
        comment = _comment(extra.get(0x9286)) or _xmp_comment(image.info)
        return FileFacts(
            name,
            image.format,
            image.size,
            _from_a_camera(base, extra),
            str(software).strip() if software else None,
            comment,
        )


# Exposure facts only a camera records: ExposureTime, FNumber, ISO, FocalLength.
EXPOSURE_TAGS = (0x829A, 0x829D, 0x8827, 0x920A)


def _from_a_camera(base: dict, exif_ifd: dict) -> bool:
    """A camera make or model, or an exposure, is recorded: some cameras (trail cameras,
    industrial ones) write no make or model but do write their exposure."""
    make, model = base.get(0x010F), base.get(0x0110)
    if str(make or "").strip() or str(model or "").strip():
        return True
    return any(exif_ifd.get(tag) not in (None, "", 0) for tag in EXPOSURE_TAGS)


def _png_exif(image: Image.Image) -> Image.Exif:
    """A PNG's EXIF only where its eXIf chunk came before the pixels (in `info`): Pillow's
    getexif would otherwise decode the whole picture to reach a late chunk."""
    exif = Image.Exif()
    raw = image.info.get("exif")
    if raw:
        exif.load(raw)
    return exif


def _comment(value: object) -> str | None:
    if isinstance(value, bytes):
        # UserComment starts with an 8-byte character code (ASCII\0\0\0, UNICODE\0, ...).
        body = value[8:] if len(value) >= 8 else value
        encoding = "utf-16" if value.startswith(b"UNICODE") else "latin-1"
        value = body.decode(encoding, "replace")
    if isinstance(value, str):
        return value.strip("\0 ").strip() or None
    return None


def _xmp_comment(info: dict) -> str | None:
    """iOS writes `exif:UserComment` Screenshot into the XMP of a screenshot's PNG."""
    packet = info.get("XML:com.adobe.xmp") or info.get("xmp")
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", "replace")
    if isinstance(packet, str) and re.search(r"UserComment.{0,200}?Screenshot", packet, re.S):
        return "Screenshot"
    return None


def screenshot_reason(facts: FileFacts, text_lines: int | None = None) -> str | None:
    """Why the file is a screenshot, or None. `text_lines`: how many lines of text were
    found (None before reading): it decides only for a PNG without a camera."""
    if facts.user_comment and facts.user_comment.casefold() == "screenshot":
        return "UserComment says Screenshot (iOS)"
    if facts.software and SCREENSHOT_SOFTWARE.search(facts.software):
        return f"written by {facts.software}"
    if SCREENSHOT_NAMES.search(Path(facts.name).stem):
        return "a screenshot's file name"
    if facts.camera or facts.size is None:
        return None
    short, long = sorted(facts.size)
    if (short, long) in SCREEN_SIZES:
        return f"a screen's size ({facts.size[0]}x{facts.size[1]}) and no camera"
    big_enough = short >= MIN_PNG_SIDES[0] and long >= MIN_PNG_SIDES[1]
    if facts.file_format == "PNG" and big_enough and (text_lines or 0) >= MIN_TEXT_LINES:
        return "a PNG without a camera, with text"
    return None


def likely_screenshot(facts: FileFacts) -> bool:
    """Before reading: a file that may be a screenshot skips the text phase's first pass
    (its text is small on the thumbnail, which the first pass reads)."""
    if screenshot_reason(facts) is not None:
        return True
    return not facts.camera and facts.file_format == "PNG"
