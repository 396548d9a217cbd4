"""Our own fuzzer, for the torture run (benchmarks/torture.py, tests/test_torture.py): broken
files made deterministically from good ones. Each mutation is one a real library holds or a
hostile file would use: bit flips (a bad disk, a bad card), truncations (an interrupted copy),
runs of bytes inserted or deleted (a broken transfer), length and size fields overwritten
(the parsers' trust: a segment, chunk, box or TIFF value that claims 0, 1, the file's size
or 4 GiB), the head of one file on the tail of another, a file under another type's
extension, empty files, and decompression bombs (a PNG and a TIFF declaring 60000 x 60000
pixels, a few KB on disk). Seeds: any folder of files (the shared corpus), or `write_seeds`,
which makes one of each kind the program reads (so a fresh clone can fuzz too)."""

from __future__ import annotations

import random
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from photoanalyzer.config import load_config
from support.imagegen import full_spec, textured_photo, write_photo

# What the fuzzer starts from and checks: the extensions the program indexes (photos, RAW,
# videos), and the sidecars it reads beside them.
_SCAN = load_config().scan
MEDIA = frozenset(f".{e}" for e in (*_SCAN.photo_extensions, *_SCAN.video_extensions))
SIDECAR = ".xmp"
HUGE = (0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def seeds_in(folder: Path) -> list[Path]:
    """The media files and sidecars below `folder`, in a stable order."""
    suffixes = MEDIA | {SIDECAR}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def write_seeds(out: Path, raw: bool = True) -> list[Path]:
    """One small file of each kind the program reads, made here: JPEG with EXIF, PNG, TIFF,
    WebP, a DNG with sensor data and a preview (unless `raw` is False: without rawpy a RAW
    stays pending, as it should), HEIC (a grid) and an MP4 where pillow-heif and PyAV can
    write them, and an XMP sidecar."""
    from support.synthetic_raw import DngSpec, write_dng

    out.mkdir(parents=True, exist_ok=True)
    spec = full_spec(orientation=6)
    made = [
        write_photo(out / "exif.jpg", spec, size=(160, 120)),
        write_photo(out / "plain.png", size=(96, 64), fmt="PNG"),
        write_photo(out / "exif.tif", spec, size=(96, 64), fmt="TIFF"),
        write_photo(out / "exif.webp", spec, size=(96, 64), fmt="WEBP"),
    ]
    if raw:
        dng = DngSpec(sensor_size=(200, 150), preview_size=(160, 120))
        made.append(write_dng(out / "sensor.dng", dng))
    textured_photo((320, 240)).save(out / "textured.jpg", quality=85)
    made.append(out / "textured.jpg")
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        textured_photo((512, 384), seed=2).save(out / "grid.heic", format="HEIF", tile_size=256)
        made.append(out / "grid.heic")
    except (ImportError, ValueError, OSError):
        pass  # no HEIF encoder here: the fuzzer still has every other kind
    video = _write_video(out / "clip.mp4")
    if video is not None:
        made.append(video)
    sidecar = out / "exif.jpg.xmp"
    sidecar.write_text(_SIDECAR_TEXT, encoding="utf-8")
    made.append(sidecar)
    return made


_SIDECAR_TEXT = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="4" xmp:Label="Red">
<dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>dog</rdf:li></rdf:Bag></dc:subject>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">A day out</rdf:li></rdf:Alt></dc:description>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>
"""


def _write_video(path: Path) -> Path | None:
    try:
        import av
        import numpy as np
    except ImportError:
        return None
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(20):
            pixels = np.full((64, 96, 3), (i * 12) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


# -- mutations: bytes in, bytes out ---------------------------------------------------------


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    """A few bits flipped; half the time in the first 4 KiB, where the headers are."""
    out = bytearray(data)
    span = min(len(out), 4096) if rng.random() < 0.5 else len(out)
    for _ in range(rng.randint(1, 24)):
        out[rng.randrange(span)] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut short: inside the headers, or anywhere."""
    if len(data) < 3:
        return b""
    if rng.random() < 0.4:
        return data[: rng.randrange(1, min(len(data), 2048))]
    return data[: rng.randrange(1, len(data))]


def insert_run(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    length = rng.choice((1, 3, 16, 255, 4096))
    run = bytes([rng.randrange(256)]) * length if rng.random() < 0.5 else rng.randbytes(length)
    return data[:at] + run + data[at:]


def delete_run(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.choice((1, 2, 7, 64, 1000)) :]


def overwrite_length(data: bytes, rng: random.Random) -> bytes:
    """One length or size field of the format's structure set to a lie (0, 1, the file's
    size, 4 GiB ...); a random 32-bit word where no structure is recognised."""
    fields = length_fields(data)
    out = bytearray(data)
    if not fields:
        at = rng.randrange(max(1, len(out) - 4))
        fields = [(at, 4, ">")]
    at, width, order = rng.choice(fields)
    limit = 2 ** (8 * width) - 1
    value = rng.choice((*HUGE, len(data), len(data) + 1, rng.randrange(limit + 1)))
    struct.pack_into(order + {2: "H", 4: "I", 8: "Q"}[width], out, at, value & limit)
    return bytes(out)


def splice(data: bytes, rng: random.Random, other: bytes) -> bytes:
    """The head of this file on the tail of another (an overwritten file, a bad recovery)."""
    return data[: rng.randrange(1, len(data))] + other[rng.randrange(len(other)) :]


def length_fields(data: bytes) -> list[tuple[int, int, str]]:
    """(position, byte width, struct byte order) of length-like fields: JPEG segment lengths,
    PNG chunk lengths, ISO-BMFF box sizes (nested), TIFF directory counts, value counts and
    offsets (in a TIFF, a RAW, or a JPEG's EXIF)."""
    found: list[tuple[int, int, str]] = []
    if data.startswith(b"\xff\xd8"):
        found += _jpeg_fields(data)
    elif data.startswith(b"\x89PNG"):
        found += _png_fields(data)
    elif data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        found += _box_fields(data, 0, len(data), depth=0)
    tiff: int | None = 0
    if data.startswith(b"\xff\xd8"):
        exif = data.find(b"Exif\x00\x00")
        tiff = exif + 6 if exif >= 0 else None
    if tiff is not None and data[tiff : tiff + 2] in (b"II", b"MM"):
        found += _tiff_fields(data, tiff)
    return found


def _jpeg_fields(data: bytes) -> list[tuple[int, int, str]]:
    found, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and len(found) < 64:
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):
            break
        found.append((pos + 2, 2, ">"))
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return found


def _png_fields(data: bytes) -> list[tuple[int, int, str]]:
    found, pos = [], 8
    while pos + 8 <= len(data) and len(found) < 64:
        found.append((pos, 4, ">"))
        pos += 12 + struct.unpack_from(">I", data, pos)[0]
    return found


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"meta", b"iprp", b"ipco", b"dinf"}


def _box_fields(data: bytes, start: int, end: int, depth: int) -> list[tuple[int, int, str]]:
    found, pos = [], start
    while pos + 8 <= end and len(found) < 256:
        size, kind = struct.unpack_from(">I4s", data, pos)
        found.append((pos, 4, ">"))
        if size < 8:
            break
        if kind in _CONTAINERS and depth < 4:
            body = pos + 8 + (4 if kind == b"meta" else 0)  # meta is a full box
            found += _box_fields(data, body, min(end, pos + size), depth + 1)
        elif kind in (b"iloc", b"stsz", b"stco", b"ispe") and depth < 6:
            # Item extents, sample sizes and offsets, image sizes: a few of their words.
            found += [(p, 4, ">") for p in range(pos + 12, min(end, pos + size) - 3, 4)][:16]
        pos += size
    return found


def _tiff_fields(data: bytes, base: int) -> list[tuple[int, int, str]]:
    order = "<" if data[base : base + 2] == b"II" else ">"
    found: list[tuple[int, int, str]] = []
    try:
        (ifd,) = struct.unpack_from(order + "I", data, base + 4)
        seen = set()
        while ifd and ifd not in seen and len(seen) < 8:
            seen.add(ifd)
            (count,) = struct.unpack_from(order + "H", data, base + ifd)
            found.append((base + ifd, 2, order))
            for i in range(min(count, 64)):
                entry = base + ifd + 2 + 12 * i
                found += [(entry + 4, 4, order), (entry + 8, 4, order)]  # count, value/offset
            (ifd,) = struct.unpack_from(order + "I", data, base + ifd + 2 + 12 * count)
    except struct.error:
        pass
    return [f for f in found if f[0] + f[1] <= len(data)]


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": flip_bits,
    "cut": truncate,
    "insert": insert_run,
    "delete": delete_run,
    "length": overwrite_length,
}


# -- bombs and the library ------------------------------------------------------------------


def png_bomb(side: int = 60_000) -> bytes:
    """A PNG declaring side x side RGB pixels (10.8 GB decoded) whose IDAT is a complete
    zlib stream of the first rows: a few KB on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = zlib.compress(b"\x00" * ((side * 3 + 1) * 16), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def tiff_bomb(side: int = 60_000) -> bytes:
    """A TIFF declaring side x side 8-bit grey pixels in one deflate strip of zeros."""
    strip = zlib.compress(b"\x00" * side * 4, 9)
    entries = [
        (256, 4, 1, side),
        (257, 4, 1, side),
        (258, 3, 1, 8),
        (259, 3, 1, 8),  # deflate
        (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 12 * 9 + 4),
        (277, 3, 1, 1),
        (278, 4, 1, side),
        (279, 4, 1, len(strip)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip


def jpeg_bomb(seed_jpeg: bytes) -> bytes:
    """A JPEG whose frame header (SOF) declares 65500 x 65500 pixels."""
    out = bytearray(seed_jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        at = out.find(marker)
        if at > 0:
            struct.pack_into(">HH", out, at + 5, 65500, 65500)
            break
    return bytes(out)


def fuzz_library(seeds: list[Path], out: Path, count: int, seed: int = 24) -> list[Path]:
    """`count` broken files made from `seeds` (deterministic for a seed), written into `out`
    with the extension of the file each came from (a few under another type's extension),
    some with a fuzzed sidecar beside them; plus empty files and bombs among the count."""
    rng = random.Random(seed)
    media = [p for p in seeds if p.suffix.lower() in MEDIA]
    sidecars = [p for p in seeds if p.suffix.lower() == SIDECAR]
    contents = {p: p.read_bytes() for p in seeds}
    jpegs = [p for p in media if contents[p].startswith(b"\xff\xd8")]
    out.mkdir(parents=True, exist_ok=True)
    special: list[tuple[str, bytes]] = [
        ("empty.jpg", b""),
        ("empty.mp4", b""),
        ("bomb.png", png_bomb()),
        ("bomb.tif", tiff_bomb()),
    ]
    if jpegs:
        special.append(("bomb.jpg", jpeg_bomb(contents[jpegs[0]])))
    made = []
    for i, (name, data) in enumerate(special[:count]):
        path = out / f"{i:03}-{name}"
        path.write_bytes(data)
        made.append(path)
    # Each family of formats gets its share, however many JPEGs the seeds hold: the parsers
    # of RAW, HEIF and video containers are ours, and need the fuzzing most.
    families: dict[str, list[Path]] = {}
    for path in media:
        families.setdefault(_family(path.suffix.lower()), []).append(path)
    groups = [families[name] for name in sorted(families)] or [seeds]
    for i in range(len(made), count):
        group = groups[i % len(groups)]
        source = group[(i // len(groups)) % len(group)]
        data = contents[source] or b"\0"
        kind = rng.choice((*MUTATIONS, "splice", "rename"))
        suffix = source.suffix.lower()
        if kind == "splice":
            data = splice(data, rng, contents[rng.choice(media)] or b"\0")
        elif kind == "rename":  # another type's content under this name, itself fuzzed
            suffix = rng.choice(sorted(MEDIA - {suffix}))
            data = MUTATIONS[rng.choice(tuple(MUTATIONS))](data, rng)
        else:
            data = MUTATIONS[kind](data, rng)
        path = out / f"{i:03}-{kind}-{source.stem[:40]}{suffix}"
        path.write_bytes(data)
        made.append(path)
        if sidecars and rng.random() < 0.15:
            sidecar = contents[rng.choice(sidecars)]
            mutated = MUTATIONS[rng.choice(("flip", "cut", "insert", "delete"))](sidecar, rng)
            Path(str(path) + SIDECAR).write_bytes(mutated)
    return made


_FAMILIES = {
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".webp": "webp",
    ".heic": "heif",
    ".heif": "heif",
    ".avif": "heif",
}


def _family(suffix: str) -> str:
    if suffix in _FAMILIES:
        return _FAMILIES[suffix]
    return "video" if suffix in _VIDEO else "raw"


_VIDEO = frozenset(f".{e}" for e in _SCAN.video_extensions)


def copy_seeds(seeds: list[Path], root: Path, out: Path) -> list[Path]:
    """The seed files themselves, copied into `out` with their paths below `root`."""
    copied = []
    for path in seeds:
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


# -- the run and what it must show ----------------------------------------------------------


def run_and_check(
    library: Path, work: Path, phases: list[str], config_extra: str = "", timeout: float = 3600
) -> tuple[list[str], dict]:
    """`photoanalyze run LIBRARY --quiet` with `phases`, in a child process with its own HOME
    (and offline ML settings), then a rescan. Returns the problems found (empty: it passed)
    and facts for a report. The promises: exit code 0, nothing on stderr, no traceback
    anywhere; every media file below the library has, for every phase, a result or an error
    of its own (status: nothing `never` or `older`), and is in the export with its path; the
    rescan analyzes nothing. A file whose error is counted (out of memory or an I/O error
    while reading it: FFmpeg's ENOMEM on a size it refused) is tried again by the next runs
    until its error is final (MAX_TRIES runs): those runs are made before the rescan."""
    import json
    import os
    import subprocess
    import sys
    import time

    from photoanalyzer.catalog.results import MAX_TRIES
    from photoanalyzer.phases.base import COUNTED_RETRY_NOTE

    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    db, config = work / "catalog.db", work / "config.yaml"
    config.write_text(f"phases: [{', '.join(phases)}]\n{config_extra}", encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "YOLO_CONFIG_DIR": str(home / "yolo"),
        "HF_HUB_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
    }
    env.pop("PHOTOANALYZER_DB", None)

    def photoanalyze(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "photoanalyzer", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)

    def exported() -> dict[str, dict]:
        lines = photoanalyze("export", "--db", str(db), "--format", "jsonl").stdout
        return {row["path"]: row for row in map(json.loads, lines.splitlines())}

    def counted() -> list[str]:
        return [
            path
            for path, row in exported().items()
            if any(COUNTED_RETRY_NOTE in error for error in row["errors"].values())
        ]

    problems: list[str] = []
    facts: dict = {"retried": []}
    run_args = ("run", str(library), "--quiet", "--db", str(db), "--config", str(config))
    for label in ("run", *["retry"] * (MAX_TRIES - 1), "rescan"):
        if label == "retry":
            retried = counted()
            if not retried:
                continue
            facts["retried"] = retried
        started = time.perf_counter()
        done = photoanalyze(*run_args)
        facts[f"{label}_seconds"] = round(time.perf_counter() - started, 1)
        facts[f"{label}_stdout"] = done.stdout
        if done.returncode != 0:
            problems.append(f"{label}: exit code {done.returncode}")
        if done.stderr:
            problems.append(f"{label}: stderr is not empty:\n{done.stderr[-4000:]}")
        if "Traceback" in done.stdout + done.stderr:
            problems.append(f"{label}: a traceback was printed")
    status = json.loads(photoanalyze("status", "--db", str(db), "--json").stdout or "{}")
    for phase in phases:
        counts = status.get("phases", {}).get(phase)
        if counts is None:
            problems.append(f"status has no {phase} phase")
            continue
        facts[phase] = {k: counts[k] for k in ("done", "failed", "never", "older")}
        if counts["never"] or counts["older"]:
            problems.append(f"{phase}: files left without a result or a final error: {counts}")
    for run in status.get("runs", [])[:1]:  # the rescan
        busy = {p["phase"]: p["processed"] for p in run["phases"] if p["processed"]}
        if busy:
            problems.append(f"the rescan analyzed files again: {busy}")
    rows = exported()
    media = [p for p in library.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA]
    missing = [str(p) for p in media if str(p) not in rows]
    if missing:
        problems.append(f"{len(missing)} media files are not in the export: {missing[:5]}")
    facts["files"] = len(media)
    facts["with_errors"] = sum(1 for row in rows.values() if row["errors"])
    return problems, facts
