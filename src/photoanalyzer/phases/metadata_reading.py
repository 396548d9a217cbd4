"""What the metadata phase reads from one file: file type, stored pixel size and EXIF facts,
without decoding pixels (the phase itself, its name and version, is metadata.py).

exifread reads EXIF; Pillow reports the pixel size from the header, and its `getexif` fills in
where exifread finds nothing (WebP, AVIF, EXIF in a second APP1 segment). XMP: the packet
Pillow's header parse already found (JPEG APP1, TIFF tag 700, PNG iTXt before the pixel data,
WebP, HEIF), or the file's sidecar, which wins (sidecars.py, xmp.py). IPTC-IIM: the block in
a JPEG's APP13 (Pillow's header parse) or a TIFF's tag 33723 (iptc.py), where XMP has no
keywords or description. The capture time: the first tag of exif.CAPTURE_TIME_ORDER that the
file has, whichever of EXIF, XMP and IPTC holds it."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import Any, BinaryIO, NamedTuple

import exifread
from PIL import Image, UnidentifiedImageError

from photoanalyzer.catalog.regions import PEOPLE_KEY
from photoanalyzer.formats import (
    bmff,
    exif,
    heif_boxes,
    iptc,
    mwg_regions,
    rawmeta,
    xmp,
    xmp_extended,
)
from photoanalyzer.formats.bounded import Clamped
from photoanalyzer.formats.filetypes import (
    HEAD_BYTES,
    HEIF_TYPES,
    heif_rotation,
    sniff,
)
from photoanalyzer.library import sidecars
from photoanalyzer.phases.base import (
    EMPTY_FILE,
    Outcome,
    describe_exception,
    is_environment_error,
)
from photoanalyzer.pixels.load import ensure_heif_support

# exifread logs every oddity of every file at WARNING; the phase reports problems itself.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

# The fields this phase produces for photos, and those only videos have (video.py).
XMP_FIELDS = ("rating", "label", "keywords", "description", "xmp_source")
METADATA_FIELDS = ("file_type", "width", "height", *exif.EXIF_FIELDS, *XMP_FIELDS)
VIDEO_ONLY_FIELDS = ("duration", "frame_rate", "video_codec", "rotation", "has_audio", "bitrate")
# Every record names every field: what a file has not is None, said here once, so that a
# misspelt key is caught by the catalog instead of leaving a column empty.
RECORD_FIELDS = (*METADATA_FIELDS, *VIDEO_ONLY_FIELDS)


def complete(record: dict[str, Any]) -> dict[str, Any]:
    return {**dict.fromkeys(RECORD_FIELDS), **record}


_EXIFREAD_GROUPS = {"Image": exif.IFD0, "EXIF": exif.EXIF, "GPS": exif.GPS}
_EXIF_IFD_POINTER, _GPS_IFD_POINTER = 0x8769, 0x8825


def read_record(path: str, kind: str) -> Outcome:
    """What the metadata phase stores for one file: read_metadata's record with every field
    of RECORD_FIELDS named."""
    outcome = read_metadata(path, kind)
    if outcome.record is None:
        return outcome
    return replace(outcome, record=complete(outcome.record))


def _container_orientation(fh: BinaryIO, file_type: str | None) -> int | None:
    """The orientation the pixels are shown in where the container, not EXIF, decides it: a
    HEIF's `irot` (anticlockwise degrees) as the EXIF orientation that turns the same way;
    None elsewhere (the EXIF orientation applies)."""
    if file_type not in HEIF_TYPES:
        return None
    return {0: 1, 90: 8, 180: 3, 270: 6}.get(heif_rotation(fh) or 0, 1)


def read_metadata(path: str, kind: str) -> Outcome:
    """The metadata of a photo or a video (`kind`, as the scan decided from the name)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        if not head:
            return Outcome(None, EMPTY_FILE)
        file_type = sniff(head)
        if kind == "video":
            outcome, packet = _video_outcome(path, file_type), None
            if file_type in _BMFF_VIDEOS:  # where Lightroom and Premiere write a video's XMP
                packet, problem = _video_xmp(fh)
                outcome = _with_xmp_problem(outcome, problem)
            return _with_xmp(outcome, path, (packet, None), photo=False)
        if file_type == "TIFF":
            file_type = rawmeta.tiff_raw_type(fh) or file_type
        if rawmeta.is_raw(file_type):
            # Lightroom keeps a RAW's ratings and keywords in its sidecar (photo.xmp), and a
            # DNG's in the DNG itself; a camera keeps the rating given on it in the RAW.
            outcome = _raw_outcome(fh, file_type)
            packet, problem = rawmeta.embedded_xmp(fh, file_type, xmp.MAX_PACKET_BYTES)
            outcome = _with_xmp_problem(outcome, problem)
            return _with_xmp(outcome, path, (packet, None))
        raw, exifread_error = _exif_tags(fh, file_type)
        pillow = _pillow_facts(fh, file_type, want_exif=not raw)
        turn = _container_orientation(fh, file_type)
    record: dict[str, Any] = {"file_type": file_type, "width": None, "height": None}
    if pillow.size:
        record["width"], record["height"] = pillow.size
    record.update(exif.normalize(raw or pillow.raw))
    iptc_block = pillow.iptc_block
    if iptc_block is None:  # a TIFF's, in its IFD0
        iptc_block = iptc.block_from_tag((raw or pillow.raw).get((exif.IFD0, iptc.TIFF_IPTC_TAG)))
    found = iptc.read_iptc(iptc_block) if iptc_block else None
    error = pillow.error
    if not error and exifread_error and not pillow.raw:
        error = f"EXIF could not be read: {exifread_error}"
    packets = (pillow.packet, pillow.extension)
    return _with_xmp(Outcome(record, error), path, packets, found, turn)


def _with_xmp_problem(outcome: Outcome, problem: str | None) -> Outcome:
    """The outcome with why its embedded XMP could not be read added to its error."""
    if not problem:
        return outcome
    errors = [e for e in (outcome.error, f"embedded XMP: {problem}") if e]
    return replace(outcome, error="; ".join(errors))


# Videos in ISO base media files, whose XMP packet bmff.xmp_packet finds.
_BMFF_VIDEOS = frozenset({"MP4", "MOV", "M4V", "3GP"})
# XMP properties read for the capture time (the taken_at fallback), beside XMP_FIELDS.
_XMP_DATES = {"date_created": exif.XMP_DATE_CREATED_TAG, "create_date": exif.XMP_CREATE_DATE_TAG}


def _with_xmp(
    outcome: Outcome,
    path: str,
    packets: tuple[bytes | str | None, tuple[bytes, ...] | None],
    found: iptc.IptcFacts | None = None,
    turn: int | None = None,
    photo: bool = True,
) -> Outcome:
    """The outcome with the XMP fields: each from the sidecar where it has it, else from the
    embedded packet (a sidecar made by `xmp write` holds keywords only, and must not hide the
    rating in the photo), else, for keywords and description, from IPTC-IIM (as the Metadata
    Working Group says: XMP where it exists). The capture time where XMP or IPTC has an
    earlier tag of exif.CAPTURE_TIME_ORDER than EXIF. Face regions and PersonInImage names
    likewise (_people). Broken XMP is said in the error, and the rest is kept. `turn`: the
    orientation the container decides (a HEIF's), else the record's EXIF one applies.
    `packets`: the embedded packet and a JPEG's extended XMP parts (None for other files),
    whose joined packet comes after the main one (the properties the writer moved there)."""
    if outcome.record is None:
        return outcome
    sidecar = sidecars.read(path)  # an environment error here keeps the file pending
    sources = [(f"XMP sidecar {sidecar[0]}", "sidecar", sidecar[1])] if sidecar else []
    packet, extension = packets
    fields, problems = dict.fromkeys((*XMP_FIELDS, *_XMP_DATES)), []
    if packet:
        sources.append(("embedded XMP", "embedded", packet))
    if packet and extension is not None and (extension or xmp_extended.names_extension(packet)):
        extended = xmp_extended.extended_packet(packet, extension)
        if extended.packet is not None:
            sources.append(("extended XMP", "embedded", extended.packet))
        if extended.problem:
            problems.append(extended.problem)
    readable: list[tuple[str, bytes | str]] = []
    for what, source, data in sources:
        try:
            facts = xmp.read_facts(data)
        except xmp.XmpError as exc:
            problems.append(f"{what} could not be read: {exc}")
            continue
        readable.append((source, data))
        read = {
            "rating": facts.rating,
            "label": facts.label,
            "keywords": list(facts.keywords) or None,
            "description": facts.description,
            "xmp_source": source,
            "date_created": facts.date_created,
            "create_date": facts.create_date,
        }
        fields = {name: read[name] if fields[name] is None else fields[name] for name in fields}
    stamps = [xmp.capture_stamp(fields.pop(name), tag) for name, tag in _XMP_DATES.items()]
    if found is not None:
        fields["keywords"] = fields["keywords"] or list(found.keywords) or None
        fields["description"] = fields["description"] or found.caption
        stamps.append(found.created)
    record = {**outcome.record, **fields}
    record[PEOPLE_KEY] = _people(readable, record, turn if photo else 0)
    best = exif.preferred(s for s in stamps if s is not None)
    if best is not None and exif.outranks(best, record.get("taken_at_source")):
        record.update(exif.capture_record([best]))
    errors = [e for e in (outcome.error, *problems) if e]
    return replace(outcome, record=record, error="; ".join(errors) or None)


def _people(
    sources: list[tuple[str, bytes | str]], record: dict[str, Any], turn: int | None
) -> dict[str, Any]:
    """The face regions and PersonInImage names, each from the first source that has them
    (the sidecar, else the photo's packet: the two are never mixed, so one face is not
    counted twice), the regions as boxes on the upright picture (mwg_regions.py). `turn`:
    the orientation to apply where it is not the record's EXIF one; 0 for a video, whose
    regions are not read (its turn is not EXIF's, and no program writes them)."""
    regions: list[mwg_regions.FaceRegion] = []
    people: tuple[str, ...] = ()
    regions_from = people_from = None
    dropped: Counter[str] = Counter()
    for source, data in sources:
        facts = mwg_regions.read_people(data)  # parsed above: an XmpError is not expected
        if facts.people and people_from is None:
            people, people_from = facts.people, source
        if facts.regions is not None and regions_from is None and turn != 0:
            regions_from = source
            size = (record["width"], record["height"]) if record.get("width") else None
            orientation = turn if turn is not None else record.get("orientation")
            regions, outside = mwg_regions.to_upright(
                facts.regions, orientation, size, facts.applied_to
            )
            dropped = facts.dropped + outside
    return {
        "regions": [(r.name, r.box.x, r.box.y, r.box.w, r.box.h) for r in regions],
        "regions_source": regions_from,
        "people": list(people),
        "people_source": people_from,
        "note": mwg_regions.note(dropped),
    }


def _raw_outcome(fh: BinaryIO, file_type: str) -> Outcome:
    """A camera RAW: EXIF by exifread (from a RAF's or an X3F's embedded JPEG), CR3's from its
    CMT boxes; the size as exiftool's ImageSize (rawmeta.py), where Pillow would report a
    preview's."""
    if file_type == "RAW-CR3":
        raw = rawmeta.cr3_tags(fh)
        error = None if raw else "no EXIF found in the CR3's CMT boxes"
    else:
        raw, error = {}, None
        for stream in rawmeta.exif_streams(fh, file_type):
            tags, reason = _exifread_tags(stream)
            raw = {**tags, **raw}  # the first source wins where both have a tag
            error = error or (f"EXIF could not be read: {reason}" if reason else None)
    record: dict[str, Any] = {"file_type": file_type, "width": None, "height": None}
    size = rawmeta.image_size(fh, file_type, raw)
    if size:
        record["width"], record["height"] = size
    record.update(exif.normalize(raw))
    return Outcome(record, None if raw else error)


def _video_xmp(fh: BinaryIO) -> tuple[bytes | None, str | None]:
    """An MP4's or QuickTime file's XMP packet, and why it could not be read (a box whose size
    lies past the end of the file)."""
    try:
        return bmff.xmp_packet(fh), None
    except ValueError as exc:  # BeyondFile
        return None, str(exc)


def _video_outcome(path: str, file_type: str | None) -> Outcome:
    # Imported here: PyAV is only needed when there are videos to read.
    from photoanalyzer.formats.video import read_video_metadata

    return Outcome({"file_type": file_type, **read_video_metadata(path)})


def _exif_tags(fh: BinaryIO, file_type: str | None) -> tuple[exif.RawTags, str | None]:
    """exifread's tags, where its reader can be trusted with the file: a HEIF's item
    locations are checked first (heif_boxes.check_item_locations), and where they are not
    consistent Pillow's EXIF is used instead."""
    if file_type in HEIF_TYPES:
        try:
            heif_boxes.check_item_locations(fh)
        except heif_boxes.HeifStructureError as exc:
            return {}, str(exc)
    return _exifread_tags(fh)


def _exifread_tags(fh: BinaryIO) -> tuple[exif.RawTags, str | None]:
    fh.seek(0)
    try:
        # Clamped: exifread reads an ASCII tag's byte count as the file gives it (4 GiB from a
        # corrupt count), and read(n) allocates n bytes before it reads.
        tags = exifread.process_file(Clamped(fh), details=False, extract_thumbnail=False)
    except Exception as exc:  # exifread raises plain IndexError, ValueError ... on bad files
        if is_environment_error(exc):
            raise  # a read error is not a fact about the file: analyze_safely keeps it pending
        return {}, describe_exception(exc)
    raw: exif.RawTags = {}
    for key, tag in tags.items():
        group = _EXIFREAD_GROUPS.get(key.split(" ", 1)[0])
        if group is not None and hasattr(tag, "tag"):
            raw[(group, tag.tag)] = tag.values
    return raw, None


class PillowFacts(NamedTuple):
    """What Pillow's parse of the header gives (nothing is decoded)."""

    size: tuple[int, int] | None  # stored width and height
    raw: exif.RawTags  # EXIF tags, where asked for
    packet: bytes | str | None = None  # the embedded XMP packet
    extension: tuple[bytes, ...] | None = None  # a JPEG's extended XMP parts (xmp_extended.py)
    iptc_block: bytes | None = None  # a JPEG's IPTC-IIM block
    error: str | None = None


def _pillow_facts(fh: BinaryIO, file_type: str | None, want_exif: bool) -> PillowFacts:
    """The header's facts, as Pillow parses them."""
    if file_type in HEIF_TYPES:
        ensure_heif_support()
    fh.seek(0)
    try:
        with Image.open(fh) as image:
            width, height = image.size
            raw = _pillow_exif(image) if want_exif else {}
            packet = image.info.get("xmp")  # what the header parse found; nothing is decoded
            resources = image.info.get("photoshop")  # a JPEG's APP13 image resources
            segments = getattr(image, "applist", None)  # a JPEG's APP segments
    except UnidentifiedImageError:
        kind = f"{file_type} " if file_type else ""
        error = f"cannot identify image: not a readable {kind}image (corrupt or mislabelled)"
        return PillowFacts(None, {}, error=error)
    except Exception as exc:
        if is_environment_error(exc):
            raise  # as above: the file stays pending
        return PillowFacts(None, {}, error=describe_exception(exc))
    if file_type in HEIF_TYPES and heif_rotation(fh) in (90, 270):
        # pillow-heif reports the size after the container's rotation; store it as encoded.
        width, height = height, width
    app13 = [data for marker, data in segments or () if marker == "APP13"]
    if app13:  # a JPEG: its segments joined, as Pillow's `photoshop` does not
        block = iptc.block_from_app13(app13)
    else:
        block = resources.get(iptc.PHOTOSHOP_IPTC_RESOURCE) if isinstance(resources, dict) else None
    extension = None  # not a JPEG
    if segments is not None:
        extension = tuple(
            data
            for marker, data in segments
            if marker == "APP1" and data.startswith(xmp_extended.SIGNATURE)
        )
    return PillowFacts(
        (width, height),
        raw,
        packet if isinstance(packet, bytes | str) else None,
        extension,
        block if isinstance(block, bytes) else None,
    )


def _pillow_exif(image: Image.Image) -> exif.RawTags:
    if image.format == "PNG" and "exif" not in image.info:
        # Pillow would decode the whole image to look for an eXIf chunk after the pixel data:
        # never decode in the metadata phase (a decompression bomb would be decoded here).
        return {}
    # Not guarded: an exception here is the file's error, recorded by the caller.
    tags = image.getexif()
    raw: exif.RawTags = {(exif.IFD0, k): v for k, v in tags.items()}
    raw.update({(exif.EXIF, k): v for k, v in tags.get_ifd(_EXIF_IFD_POINTER).items()})
    raw.update({(exif.GPS, k): v for k, v in tags.get_ifd(_GPS_IFD_POINTER).items()})
    pointers_only = set(raw) <= {(exif.IFD0, _EXIF_IFD_POINTER), (exif.IFD0, _GPS_IFD_POINTER)}
    return {} if pointers_only else raw
