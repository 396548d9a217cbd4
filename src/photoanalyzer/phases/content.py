"""Content phase: one reduced decode per photo -> a cached thumbnail and quality signals
(sharpness, exposure, contrast, colour, perceptual hashes) with the flags derived from them."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from photoanalyzer.config import ContentConfig
from photoanalyzer.phases.base import EMPTY_FILE, Outcome

# Bump when the code changes what the phase produces; settings are hashed in separately.
CODE_VERSION = "content-1"
# Settings that change the output (the thumbnail folder and worker count do not).
_OUTPUT_SETTINGS = (
    "thumbnail_size",
    "thumbnail_quality",
    "max_pixels",
    "blur_threshold",
    "underexposed_brightness",
    "underexposed_shadows",
    "overexposed_brightness",
    "overexposed_highlights",
)


def settings_digest(settings: ContentConfig) -> str:
    values = {name: getattr(settings, name) for name in _OUTPUT_SETTINGS}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def thumbnail_key(path: str, size: int, mtime_ns: int) -> str:
    """Relative path of a file's thumbnail; a changed file (size or mtime) gets a new one."""
    digest = hashlib.sha1(f"{path}\0{size}\0{mtime_ns}".encode(), usedforsecurity=False)
    name = digest.hexdigest()
    return f"{name[:2]}/{name[2:]}.jpg"


@dataclass(frozen=True)
class ContentPhase:
    settings: ContentConfig
    thumbnail_dir: str
    name: str = "content"
    kinds: frozenset[str] = frozenset({"photo"})
    min_files_for_workers: int = 2

    @property
    def version(self) -> str:
        return f"{CODE_VERSION}-{settings_digest(self.settings)}"

    @property
    def workers(self) -> int:
        return self.settings.workers

    def analyze(self, path: str) -> Outcome:
        # Imported here, in the worker: numpy, Pillow and imagehash cost a quarter of a second
        # that a rescan with nothing to analyze should not pay.
        from photoanalyzer.imaging import load_upright_rgb, write_thumbnail
        from photoanalyzer.signals import measure

        st = os.stat(path)
        if st.st_size == 0:
            return Outcome(None, EMPTY_FILE)
        decoded = load_upright_rgb(path, self.settings.thumbnail_size, self.settings.max_pixels)
        key = thumbnail_key(path, st.st_size, st.st_mtime_ns)
        write_thumbnail(
            decoded.image, Path(self.thumbnail_dir) / key, self.settings.thumbnail_quality
        )
        signals = measure(decoded.image)
        record = asdict(signals)
        record.update(
            thumbnail=key,
            blurry=signals.sharpness < self.settings.blur_threshold,
            underexposed=(
                signals.brightness < self.settings.underexposed_brightness
                or signals.shadows_crushed > self.settings.underexposed_shadows
            ),
            overexposed=(
                signals.brightness > self.settings.overexposed_brightness
                or signals.highlights_clipped > self.settings.overexposed_highlights
            ),
        )
        return Outcome(record)
