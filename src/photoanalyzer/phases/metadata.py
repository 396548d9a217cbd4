"""Metadata phase: file type, stored pixel size and EXIF, XMP and IPTC facts, without decoding
pixels. This module is the phase as the pipeline sees it (name, version, kinds); reading a
file is metadata_reading.py, imported only when a file is read: a nightly rescan with nothing
new builds every phase to learn its version, and exifread, Pillow and the format parsers
would cost it a tenth of its second (docs/performance.md, "Issues 24 and 25")."""

from __future__ import annotations

from dataclasses import dataclass

from photoanalyzer.phases.base import Outcome


@dataclass(frozen=True)
class MetadataPhase:
    workers: int = 0
    name: str = "metadata"
    # metadata-2: taken_at is always naive local time, with taken_at_offset (OffsetTimeOriginal,
    # else OffsetTime) and taken_at_utc beside it. metadata-3: taken_at_offset_source says
    # where the offset came from (exif, video-utc or none). metadata-4: camera RAW files are
    # RAW-<format> with exiftool's ImageSize, CR3 and RAF EXIF read (rawmeta.py); XMP rating,
    # label, keywords, description and where they came from (embedded or sidecar).
    # metadata-5: taken_at falls back through XMP, IPTC, CreateDate and GPSDateTime, with
    # taken_at_source; IPTC-IIM keywords and caption where XMP has none. metadata-6: MWG face
    # regions (as boxes on the upright picture) and PersonInImage names (mwg_regions.py).
    # metadata-7: a JPEG's IPTC-IIM read whole where it goes on over several APP13 segments,
    # and its extended XMP (parts in further APP1 segments) joined and read after the main
    # packet; the XMP packet in a TIFF-based RAW (a DNG's tag 700), a CR3's XMP box and a
    # video (an MP4's XMP box, a QuickTime file's moov/udta/XMP_).
    version: str = "metadata-7"
    kinds: frozenset[str] = frozenset({"photo", "video"})
    min_files_for_workers: int = 64

    def analyze(self, path: str, kind: str) -> Outcome:
        from photoanalyzer.phases.metadata_reading import read_record

        return read_record(path, kind)
