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

MWG_RS, ST_AREA, ST_DIM, IPTC_EXT = xmp.MWG_RS, xmp.ST_AREA, xmp.ST_DIM, xmp.IPTC_EXT

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
LARGER = "larger than the picture"


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
        region = _face(props, li, applied)
        if isinstance(region, str):
            dropped[region] += 1
        elif region is not None:
            kept.append(region)
    return tuple(kept), dropped


def _face(
    props: xmp._Properties, li: ET.Element, applied: tuple[float, float] | None
) -> WrittenRegion | str | None:
    """One entry of the region list: a face region, why it cannot be read, or None for a
    region that is not a face."""
    fields = _fields(props, li)
    kind = _text(fields.get((MWG_RS, "Type")))
    name = _text(fields.get((MWG_RS, "Name")))
    name = name[:MAX_NAME_CHARS] if name else None
    # Only faces; a region without a Type (optional in MWG) counts where it has a name.
    if (kind.lower() != "face") if kind else name is None:
        return None
    return _area(props, fields.get((MWG_RS, "Area")), name, applied)


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
    if w > 1 + 1e-6 or h > 1 + 1e-6:
        return LARGER  # not a face: pixels written without their unit, as often as not
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


# -- writing our faces into a sidecar ----------------------------------------------------------

# Our record of what we added (beside xmp.py's AddedSubjects): each face region we wrote as
# "x y w h name" (the values as written: centre, normalized), and the PersonInImage names
# that were not there before. A later write replaces exactly those; a region someone
# renamed or moved no longer matches, and is theirs from then on.
ADDED_REGIONS, ADDED_PEOPLE = "AddedRegions", "AddedPeople"
# A face someone else already marked is not marked again: our region is left out where one
# of theirs covers it this much (intersection over union).
SAME_FACE_IOU = 0.5
_MATCH = 1e-6  # how close a region's numbers must be to our record's (another program may
# rewrite 0.400000 as 0.4)


@dataclass(frozen=True)
class People:
    """What one write says about who is in a photo: named faces as boxes on the upright
    picture (as the catalog and the faces phase keep them), the picture's stored size and
    EXIF orientation (to write the regions in the stored frame the MWG convention uses),
    and the names for PersonInImage."""

    regions: tuple[FaceRegion, ...] = ()
    stored_size: tuple[int, int] | None = None
    orientation: int | None = None
    names: tuple[str, ...] = ()


def merge_people(existing: bytes | None, wanted: People) -> xmp.Merge:
    """Our face regions and PersonInImage names merged into a sidecar's text (a fresh one
    when `existing` is None): every region, name and field another program wrote is kept,
    ours from an earlier write are replaced. Merge.text is None when nothing changes."""
    packet = xmp.decode_packet(existing if existing is not None else xmp.FRESH_SIDECAR.encode())
    doc = xmp._parse_dom(packet.xml)
    rdf = xmp._dom_rdf(doc)
    editor = xmp._Editor(doc, rdf, xmp._holder(doc, rdf))
    regions = _RegionList(doc, rdf, editor, packet.xml)
    ours_before = regions.ours(editor.values(xmp.OURS, ADDED_REGIONS))
    theirs = [r for i, r in enumerate(regions.written) if i not in ours_before and r]
    frame = (
        1
        if drawn_upright(wanted.orientation or 1, wanted.stored_size, regions.applied)
        else wanted.orientation
    )
    new_regions = [
        entry
        for entry in (_entry(r, frame) for r in wanted.regions)
        if not any(_iou(_box_of(entry), _box_of(t)) >= SAME_FACE_IOU for t in theirs)
    ]
    names_before = editor.values(IPTC_EXT, "PersonInImage")
    our_names = [n for n in editor.values(xmp.OURS, ADDED_PEOPLE) if n in names_before]
    kept_names = [n for n in names_before if n not in our_names]
    added_names = [n for n in dict.fromkeys(wanted.names) if n not in kept_names]
    old_entries = [regions.entry(i) for i in sorted(ours_before)]
    if (
        existing is not None
        and old_entries == [e for e in new_regions]
        and sorted(our_names) == sorted(added_names)
        and names_before == kept_names + added_names
    ):
        return xmp.Merge(None, (), ())
    regions.replace(sorted(ours_before), new_regions, wanted.stored_size)
    editor.set(IPTC_EXT, "PersonInImage", "Bag", kept_names + added_names)
    editor.set(xmp.OURS, ADDED_REGIONS, "Bag", [_record(e) for e in new_regions])
    editor.set(xmp.OURS, ADDED_PEOPLE, "Bag", added_names)
    before = {f"face:{_record(e)}" for e in old_entries} | {f"person:{n}" for n in names_before}
    after = {f"face:{_record(e)}" for e in new_regions} | {
        f"person:{n}" for n in kept_names + added_names
    }
    return xmp.Merge(
        xmp._serialize(doc, packet), tuple(sorted(after - before)), tuple(sorted(before - after))
    )


# An entry as written: (name, centre x, centre y, w, h), the numbers as text.
_Entry = tuple[str | None, str, str, str, str]
# Stored picture -> upright is _POINT[o]; upright -> stored is _POINT of its inverse turn.
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def _number_text(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _entry(region: FaceRegion, orientation: int | None) -> _Entry:
    """A region on the upright picture as written: in the stored picture's frame (the
    inverse of to_upright), centre and size, normalized."""
    turn = _INVERSE.get(orientation or 1, 1)
    box = region.box
    corners = [_POINT[turn](box.x, box.y), _POINT[turn](box.x + box.w, box.y + box.h)]
    left, right = sorted(c[0] for c in corners)
    top, bottom = sorted(c[1] for c in corners)
    return (
        region.name,
        _number_text((left + right) / 2),
        _number_text((top + bottom) / 2),
        _number_text(right - left),
        _number_text(bottom - top),
    )


def _box_of(region: _Entry | WrittenRegion) -> tuple[float, float, float, float]:
    if isinstance(region, WrittenRegion):
        return region.x, region.y, region.w, region.h
    _, x, y, w, h = region
    cx, cy, width, height = float(x), float(y), float(w), float(h)
    return cx - width / 2, cy - height / 2, width, height


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    across = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    down = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    both = across * down
    union = a[2] * a[3] + b[2] * b[3] - both
    return both / union if union > 0 else 0.0


def _record(entry: _Entry) -> str:
    name, x, y, w, h = entry
    return f"{x} {y} {w} {h} {name or ''}".rstrip()


def _from_record(value: str) -> tuple[str | None, tuple[float, ...]] | None:
    parts = value.split(" ", 4)
    try:
        numbers = tuple(float(p) for p in parts[:4])
    except ValueError:
        return None
    if len(numbers) != 4:
        return None
    cx, cy, w, h = numbers
    return (parts[4] if len(parts) == 5 and parts[4] else None), (cx - w / 2, cy - h / 2, w, h)


class _RegionList:
    """The sidecar's mwg-rs:Regions in both trees: ElementTree (what each entry says, read as
    read_people reads it) and minidom (where it is, to rewrite), matched entry by entry."""

    def __init__(self, doc, rdf, editor: xmp._Editor, text: bytes):
        self._doc, self._rdf, self._editor = doc, rdf, editor
        props = xmp.read_properties(text)
        found = props.find(MWG_RS, "Regions")
        fields = _fields(props, found) if isinstance(found, ET.Element) else {}
        self.applied = _dimensions(props, fields.get((MWG_RS, "AppliedToDimensions")))
        items = _list_items(props, fields.get((MWG_RS, "RegionList")))
        read = [_face(props, li, self.applied) for li in items]
        self.written = [r if isinstance(r, WrittenRegion) else None for r in read]
        self._property = self._find_property()
        self._bag = self._find_bag()
        lis = self._items()
        if len(lis) != len(items):
            raise xmp.XmpError(
                "its face regions are written in a form we cannot rewrite safely: left as it is"
            )
        self._lis = lis

    def ours(self, records: list[str]) -> set[int]:
        """The entries our record names (each record matches one entry at most)."""
        wanted = [r for r in map(_from_record, records) if r is not None]
        found: set[int] = set()
        for name, box in wanted:
            for index, region in enumerate(self.written):
                if index in found or region is None or region.name != name:
                    continue
                if all(abs(a - b) <= _MATCH for a, b in zip(_box_of(region), box, strict=True)):
                    found.add(index)
                    break
        return found

    def entry(self, index: int) -> _Entry:
        region = self.written[index]
        assert region is not None
        return (
            region.name,
            _number_text(region.x + region.w / 2),
            _number_text(region.y + region.h / 2),
            _number_text(region.w),
            _number_text(region.h),
        )

    def _find_property(self):
        try:
            _, element = self._editor._find(MWG_RS, "Regions")
        except KeyError:
            return None
        if element is None:
            raise xmp.XmpError("mwg-rs:Regions is not a structure: left as it is")
        return element

    def _body(self, element):
        """The element whose children are the struct's fields."""
        if element.getAttributeNS(xmp.RDF, "parseType") == "Resource":
            return element
        ref = element.getAttributeNS(xmp.RDF, "nodeID")
        kids = xmp._elements(element)
        if ref and not kids:
            for node in xmp._elements(self._rdf):
                if node.getAttributeNS(xmp.RDF, "nodeID") == ref:
                    return node
        for kid in kids:
            if kid.namespaceURI == xmp.RDF and kid.localName == "Description":
                return kid
        if not kids and not any(
            a.namespaceURI not in (xmp.RDF, xmp.XMLNS) for a in element.attributes.values()
        ):
            return element  # <mwg-rs:Regions/>: fields go inside, as a Resource
        raise xmp.XmpError(
            "its face regions are written in a form we cannot rewrite: left as it is"
        )

    def _field(self, body, name: str):
        for kid in xmp._elements(body):
            if kid.namespaceURI == MWG_RS and kid.localName == name:
                return kid
        return None

    def _find_bag(self):
        if self._property is None:
            return None
        field = self._field(self._body(self._property), "RegionList")
        return self._editor._container(field) if field is not None else None

    def _items(self) -> list:
        if self._bag is None:
            return []
        return [
            li
            for li in xmp._elements(self._bag)
            if li.namespaceURI == xmp.RDF and li.localName == "li"
        ]

    def replace(
        self, ours: list[int], entries: list[_Entry], stored: tuple[int, int] | None
    ) -> None:
        """Our old entries out, `entries` in at the end of the list; a Regions property made
        for them where there is none, and taken out again where nothing is left in it."""
        for index in ours:
            xmp._remove_with_indent(self._lis[index])
        if not entries and self._property is not None and not self._items():
            self._drop_if_only_ours()
            return
        if not entries:
            return
        if self._property is None:
            self._property = self._new_regions(stored)
        body = self._body(self._property)
        if body is self._property and not body.hasAttributeNS(xmp.RDF, "parseType"):
            body.setAttributeNS(xmp.RDF, xmp._qualified(body, xmp.RDF, "parseType"), "Resource")
        if self._bag is None:
            if self.applied is None and stored and self._field(body, "AppliedToDimensions") is None:
                xmp._append_indented(body, self._dimensions(body, stored))
            # Each new element is placed before its children are made: the prefixes in
            # scope are looked up from where it is.
            field = self._new(body, MWG_RS, "RegionList")
            xmp._append_indented(body, field)
            self._bag = self._new(field, xmp.RDF, "Bag")
            field.appendChild(self._bag)
        for entry in entries:
            xmp._append_indented(self._bag, self._li(self._bag, entry))

    def _drop_if_only_ours(self) -> None:
        """A Regions left with an empty list and nothing else of another program's goes."""
        body = self._body(self._property)
        names = {(k.namespaceURI, k.localName) for k in xmp._elements(body)}
        if names <= {(MWG_RS, "RegionList"), (MWG_RS, "AppliedToDimensions")}:
            xmp._remove_with_indent(self._property)

    def _new(self, scope, ns: str, name: str):
        return self._doc.createElementNS(ns, xmp._qualified(scope, ns, name))

    def _resource(self, scope, ns: str, name: str, fields: list[tuple[str, str, str]]):
        element = self._new(scope, ns, name)
        element.setAttributeNS(xmp.RDF, xmp._qualified(scope, xmp.RDF, "parseType"), "Resource")
        for field_ns, field_name, value in fields:
            child = self._new(scope, field_ns, field_name)
            child.appendChild(self._doc.createTextNode(value))
            element.appendChild(child)
        return element

    def _new_regions(self, stored: tuple[int, int] | None):
        holder = self._editor._holder
        element = self._new(holder, MWG_RS, "Regions")
        element.setAttributeNS(xmp.RDF, xmp._qualified(holder, xmp.RDF, "parseType"), "Resource")
        xmp._append_indented(holder, element)
        return element

    def _dimensions(self, scope, stored: tuple[int, int]):
        return self._resource(
            scope,
            MWG_RS,
            "AppliedToDimensions",
            [(ST_DIM, "w", str(stored[0])), (ST_DIM, "h", str(stored[1])),
             (ST_DIM, "unit", "pixel")],
        )  # fmt: skip

    def _li(self, scope, entry: _Entry):
        name, x, y, w, h = entry
        area = self._resource(
            scope,
            MWG_RS,
            "Area",
            [(ST_AREA, "x", x), (ST_AREA, "y", y), (ST_AREA, "w", w), (ST_AREA, "h", h),
             (ST_AREA, "unit", "normalized")],
        )  # fmt: skip
        fields = [(MWG_RS, "Name", name)] if name else []
        fields.append((MWG_RS, "Type", "Face"))
        li = self._resource(scope, xmp.RDF, "li", fields)
        li.appendChild(area)
        return li
