"""Names people already gave: Metadata Working Group face regions (`mwg-rs:Regions`) and IPTC's
`Iptc4xmpExt:PersonInImage`, read from an XMP packet, and the regions turned into boxes on
the upright picture.

What Lightroom, digiKam, Picasa and Apple Photos exports write (MWG Guidelines 2.0, 5.9):
`mwg-rs:Regions` holds `mwg-rs:AppliedToDimensions` (stDim:w, h, unit: the picture the regions
were drawn on) and `mwg-rs:RegionList`, a Bag of regions, each with `mwg-rs:Name`,
`mwg-rs:Type` (`Face`, `Pet`, `Focus`, `BarCode`) and `mwg-rs:Area` (stArea:x, y: the CENTRE;
w, h; unit `normalized`, 0..1 of the picture). Each struct may be written as attributes, as
elements, with rdf:parseType="Resource" or a nested rdf:Description, or by rdf:nodeID; all
are read.

Orientation: the regions are relative to the picture as STORED, before EXIF orientation is
applied. That is how Lightroom writes them (a Lightroom plugin that wrote rotated regions
found Lightroom no longer recognized them), how digiKam writes them since its bugs 372340 and
395243 were fixed, and how Immich and pigallery2 read them (both turn them by the orientation
after user reports of misplaced boxes on portrait photos); exiftool stores them as given and
ships a config (rotate_regions.config) to turn them when the pixels are turned. A file
whose AppliedToDimensions has the sides of the UPRIGHT picture where the stored one's differ
(portrait against landscape) was drawn on the displayed picture by a writer that did not
follow this, and is taken as it is (docs/xmp.md)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

from photoanalyzer.formats import xmp

MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"

# A packet may be 16 MB (xmp.MAX_PACKET_BYTES): some 50,000 regions. At most this many face
# regions and names are kept per file; the rest are counted in the note, not stored. A real
# photo has tens; a thousand is a stadium crowd.
MAX_REGIONS = 1000
MAX_NAMES = 1000
MAX_NAME_CHARS = 256  # a longer name is cut (a name is a label, not a text)

_RDF_NS = (xmp.RDF, xmp.XML)
_CONTAINERS = frozenset(f"{{{xmp.RDF}}}{kind}" for kind in ("Bag", "Seq", "Alt"))
_LI, _VALUE = f"{{{xmp.RDF}}}li", f"{{{xmp.RDF}}}value"
_PARSE_TYPE = f"{{{xmp.RDF}}}parseType"

# Why a region was not kept, as the note names it.
UNREADABLE = "with unreadable numbers or unit"
NO_SIZE = "with no size"
OUTSIDE = "outside the picture"


@dataclass(frozen=True)
class Box:
    """A box on the upright picture (after EXIF orientation), top-left origin, each value a
    fraction of the picture's width (x, w) or height (y, h), within 0..1."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class FaceRegion:
    name: str | None  # None: a face region without a name
    box: Box


@dataclass(frozen=True)
class WrittenRegion:
    """A face region as the packet has it, made top-left and normalized but not yet turned
    upright or clipped: x, y, w, h fractions of the picture it was drawn on."""

    name: str | None
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class PeopleFacts:
    """What one packet says about who is in the picture."""

    regions: tuple[WrittenRegion, ...] | None = None  # None: the packet has no mwg-rs:Regions
    applied_to: tuple[float, float] | None = None  # AppliedToDimensions w, h in pixels
    people: tuple[str, ...] = ()  # Iptc4xmpExt:PersonInImage, in order, without repeats
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> regions not kept


NOTHING = PeopleFacts()


def read_people(data: bytes | str) -> PeopleFacts:
    """The face regions and PersonInImage names of one packet; XmpError where it cannot be
    read at all. A packet that names neither schema is not parsed (most photos)."""
    text = xmp.decode_packet(data).xml
    if MWG_RS.encode() not in text and IPTC_EXT.encode() not in text:
        return NOTHING
    props = xmp.read_properties(text)
    people = _names(props.items(IPTC_EXT, "PersonInImage"))
    found = props.find(MWG_RS, "Regions")
    if found is None or isinstance(found, str):
        return PeopleFacts(people=people)
    fields = _fields(props, found)
    applied = _dimensions(props, fields.get((MWG_RS, "AppliedToDimensions")))
    regions, dropped = _regions(props, fields.get((MWG_RS, "RegionList")), applied)
    return PeopleFacts(regions, applied, people, dropped)


def _names(values: list[str]) -> tuple[str, ...]:
    names = (v.strip()[:MAX_NAME_CHARS] for v in values[:MAX_NAMES])
    return tuple(dict.fromkeys(n for n in names if n))


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _fields(props: xmp._Properties, value: str | ET.Element) -> dict[tuple[str, str], object]:
    """The fields of a struct value, whichever RDF form it is written in: attributes of the
    element, its children under rdf:parseType="Resource", or those of a nested
    rdf:Description (or one it names by rdf:nodeID). The first of a name wins."""
    if isinstance(value, str):
        return {}
    node = props.resolve(value)
    fields: dict[tuple[str, str], object] = {}

    def take(element: ET.Element) -> None:
        for key, text in element.attrib.items():
            name = _split(key)
            if name[0] not in _RDF_NS:
                fields.setdefault(name, text)
        for child in element:
            name = _split(child.tag)
            if name[0] not in _RDF_NS:
                fields.setdefault(name, child)

    take(node)
    if node.get(_PARSE_TYPE) != "Resource":
        for child in node:
            if _split(child.tag)[0] == xmp.RDF and child.tag not in _CONTAINERS:
                take(props.resolve(child))  # rdf:Description, a typed node
    return fields


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if not isinstance(value, ET.Element):
        return None
    if _VALUE in value.attrib:
        return value.attrib[_VALUE].strip() or None
    if len(value):
        child = value.find(_VALUE)
        return (child.text or "").strip() or None if child is not None else None
    return (value.text or "").strip() or None


def _number(value: object) -> float | None:
    """A real number as XMP writes it (a comma as decimal mark from some writers); None for
    what is not a finite number."""
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _dimensions(props: xmp._Properties, value: object) -> tuple[float, float] | None:
    """AppliedToDimensions in pixels where it says so; None otherwise (inch, mm, absent)."""
    if value is None:
        return None
    fields = _fields(props, value)
    unit = (_text(fields.get((ST_DIM, "unit"))) or "pixel").lower()
    width, height = _number(fields.get((ST_DIM, "w"))), _number(fields.get((ST_DIM, "h")))
    if unit != "pixel" or width is None or height is None or width <= 0 or height <= 0:
        return None
    return width, height


def _list_items(props: xmp._Properties, value: object) -> list[ET.Element]:
    if not isinstance(value, ET.Element):
        return []
    node = props.resolve(value)
    if node.tag not in _CONTAINERS:
        node = next((c for c in node if c.tag in _CONTAINERS), None)
        if node is None:
            return []
        node = props.resolve(node)
    return [li for li in node if li.tag == _LI]


def _regions(
    props: xmp._Properties, value: object, applied: tuple[float, float] | None
) -> tuple[tuple[WrittenRegion, ...], Counter[str]]:
    items = _list_items(props, value)
    kept: list[WrittenRegion] = []
    dropped: Counter[str] = Counter()
    for position, li in enumerate(items):
        if len(kept) == MAX_REGIONS:
            dropped[f"beyond the first {MAX_REGIONS:,}"] += len(items) - position
            break
        fields = _fields(props, li)
        kind = _text(fields.get((MWG_RS, "Type")))
        name = _text(fields.get((MWG_RS, "Name")))
        name = name[:MAX_NAME_CHARS] if name else None
        # Only faces; a region without a Type (optional in MWG) counts where it has a name.
        if (kind.lower() != "face") if kind else name is None:
            continue
        region = _area(props, fields.get((MWG_RS, "Area")), name, applied)
        if isinstance(region, str):
            dropped[region] += 1
        else:
            kept.append(region)
    return tuple(kept), dropped


def _area(
    props: xmp._Properties,
    value: object,
    name: str | None,
    applied: tuple[float, float] | None,
) -> WrittenRegion | str:
    """The region's area made top-left and normalized, or why it cannot be."""
    fields = _fields(props, value) if value is not None else {}
    numbers = [_number(fields.get((ST_AREA, key))) for key in ("x", "y", "w", "h")]
    unit = (_text(fields.get((ST_AREA, "unit"))) or "normalized").lower()
    if any(n is None for n in numbers):
        return UNREADABLE
    x, y, w, h = numbers
    if unit == "pixel":
        if applied is None:
            return UNREADABLE  # pixels of a picture whose size is not given
        x, w = x / applied[0], w / applied[0]
        y, h = y / applied[1], h / applied[1]
    elif unit != "normalized":
        return UNREADABLE
    if w <= 0 or h <= 0:
        return NO_SIZE
    return WrittenRegion(name, x - w / 2, y - h / 2, w, h)


# -- onto the upright picture -----------------------------------------------------------------

# EXIF orientation -> where a point (u, v) of the stored picture (fractions, top-left origin)
# lands on the upright one. 6 is "turn 90 degrees clockwise to view": the stored top-left
# corner becomes the upright top-right.
_POINT = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (1 - v, u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (v, 1 - u),
}
SIDEWAYS = frozenset({5, 6, 7, 8})


def drawn_upright(
    orientation: int, stored_size: tuple[int, int] | None, applied: tuple[float, float] | None
) -> bool:
    """Whether regions were drawn on the displayed picture against the MWG rule: the
    orientation turns the picture sideways and AppliedToDimensions has the upright sides
    (portrait where the stored picture is landscape, or the reverse)."""
    if orientation not in SIDEWAYS or not stored_size or not applied:
        return False
    (sw, sh), (aw, ah) = stored_size, applied
    return sw != sh and aw != ah and (aw > ah) != (sw > sh)


def to_upright(
    regions: tuple[WrittenRegion, ...],
    orientation: int | None,
    stored_size: tuple[int, int] | None,
    applied: tuple[float, float] | None,
) -> tuple[list[FaceRegion], Counter[str]]:
    """The regions as boxes on the upright picture, clipped to it; those with nothing inside
    the picture counted, not kept."""
    turn = orientation if orientation in _POINT else 1
    if drawn_upright(turn, stored_size, applied):
        turn = 1
    kept: list[FaceRegion] = []
    dropped: Counter[str] = Counter()
    for region in regions:
        corners = [
            _POINT[turn](region.x, region.y),
            _POINT[turn](region.x + region.w, region.y + region.h),
        ]
        left, right = sorted(min(max(c[0], 0.0), 1.0) for c in corners)
        top, bottom = sorted(min(max(c[1], 0.0), 1.0) for c in corners)
        if right - left <= 0 or bottom - top <= 0:
            dropped[OUTSIDE] += 1
            continue
        kept.append(FaceRegion(region.name, Box(left, top, right - left, bottom - top)))
    return kept, dropped


def note(dropped: Counter[str]) -> str | None:
    """The note for regions not kept ("2 face regions not kept: 1 with no size, 1 outside
    the picture"); None when all were."""
    if not dropped:
        return None
    total = sum(dropped.values())
    ranked = sorted(dropped.items(), key=lambda item: (-item[1], item[0]))  # most first
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in ranked)
    return f"{total:,} face region{'s' if total != 1 else ''} not kept: {reasons}"
