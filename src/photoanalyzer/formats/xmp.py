"""XMP packets: reading the facts people record (rating, label, keywords, description) and
merging our keywords into a sidecar without losing anything another program wrote.

Standard-library XML (expat, through ElementTree for reading and minidom for rewriting), with
the RDF forms XMP uses handled here: properties as attributes or elements, rdf:Bag/Seq/Alt
of rdf:li, rdf:nodeID references to top-level nodes, rdf:parseType="Resource" and rdf:value,
several rdf:Description blocks, an x:xmpmeta wrapper or a bare rdf:RDF, xpacket instructions.
A packet with a DOCTYPE is refused before it is parsed: XMP allows none, and a DTD is where
entity-expansion bombs live (docs/architecture.md says why no other library)."""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from photoanalyzer.formats import exif

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
XMLNS = "http://www.w3.org/2000/xmlns/"
XMP = "http://ns.adobe.com/xap/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
META = "adobe:ns:meta/"
# Our own record of the dc:subject leaves we added (those that were not there before), so a
# later write removes exactly those and never a keyword the user had typed themselves.
OURS = "https://github.com/photoanalyzer/ns/xmp/1.0/"
# The Metadata Working Group's regions and the types of its fields, IPTC's extension
# (PersonInImage): read and written by mwg_regions.py.
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
# The prefix a namespace is given where a rewrite declares it (the one its schema uses).
PREFIXES = {
    RDF: "rdf",
    DC: "dc",
    LR: "lr",
    DIGIKAM: "digiKam",
    OURS: "photoanalyzer",
    META: "x",
    MWG_RS: "mwg-rs",
    ST_AREA: "stArea",
    ST_DIM: "stDim",
    IPTC_EXT: "Iptc4xmpExt",
}

_CONTAINERS = frozenset(f"{{{RDF}}}{kind}" for kind in ("Bag", "Seq", "Alt"))
_DESCRIPTION, _LI, _VALUE = f"{{{RDF}}}Description", f"{{{RDF}}}li", f"{{{RDF}}}value"
_NODE_ID, _RESOURCE, _PARSE_TYPE = f"{{{RDF}}}nodeID", f"{{{RDF}}}resource", f"{{{RDF}}}parseType"
_LANG = f"{{{XML}}}lang"
MAX_PACKET_BYTES = 16 * 1024 * 1024  # a sidecar or packet larger than this is not read
# The packet wrapper: an XML declaration and <?xpacket begin=...?> before the XML, and
# <?xpacket end=...?> after it. Kept as bytes, verbatim, and not parsed: writers put a raw
# BOM or even a control character (0x1A, f-spot) in `begin`, which no XML parser accepts.
# The declaration's encoding is read from the bytes (group `encoding`): the XML parsed
# is given without its declaration, always in UTF-8 (decode_packet).
_HEAD_BYTES = (
    rb"(?:\s*<\?xml\s(?:[^>]*?\bencoding\s*=\s*[\"'](?P<encoding>[A-Za-z][\w.-]*)[\"'])?"
    rb"[^>]*\?>)?(?:\s*<\?xpacket\s[^>]*\?>)?\s*"
)
_HEAD = re.compile(_HEAD_BYTES)
_HEAD_TEXT = re.compile(_HEAD_BYTES.decode("ascii"), re.ASCII)
_DECLARED = re.compile(rb"(<\?xml\s[^>]*?\bencoding\s*=\s*[\"'])[A-Za-z][\w.-]*([\"'])")
_BOM = b"\xef\xbb\xbf"
_WIDE_MARKS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16's mark, which it starts with
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# Python codecs that are not character sets a file could be written in.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode"})
_DTD_REFUSED = "XMP with a DOCTYPE or entity declarations (not allowed in XMP): not read"


class XmpError(ValueError):
    """The packet is not XMP we can read (not XML, no rdf:RDF, a DTD, too large)."""


@dataclass(frozen=True)
class XmpFacts:
    rating: float | None = None  # xmp:Rating: -1 (rejected) to 5; whole numbers as int
    label: str | None = None  # xmp:Label (a colour name, usually)
    keywords: tuple[str, ...] = ()  # dc:subject, in the packet's order, without repeats
    description: str | None = None  # dc:description, its x-default language
    date_created: str | None = None  # photoshop:DateCreated, as written (see capture_stamp)
    create_date: str | None = None  # xmp:CreateDate


def read_facts(data: bytes | str) -> XmpFacts:
    """The facts of one packet (a sidecar's bytes, or a packet embedded in a photo)."""
    props = read_properties(data)
    return XmpFacts(
        rating=_rating(props.text(XMP, "Rating")),
        label=_clean(props.text(XMP, "Label")),
        keywords=tuple(dict.fromkeys(k for k in map(_clean, props.items(DC, "subject")) if k)),
        description=_clean(props.language_default(DC, "description")),
        date_created=_clean(props.text(PHOTOSHOP, "DateCreated")),
        create_date=_clean(props.text(XMP, "CreateDate")),
    )


# An XMP date (ISO 8601 as XMP writes it: a year, a month or a day alone, a time of day
# with or without seconds, fractions and a zone); the EXIF form (2021:04:11 15:47:53) that
# some writers put in XMP too.
_XMP_DATE = re.compile(
    r"^\s*(\d{4})(?:[-:](\d{2})(?:[-:](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?\s*$"
)


def capture_stamp(value: str | None, source: str) -> exif.CaptureStamp | None:
    """An XMP date as a capture time. What the date leaves out is its start: a day without a
    time of day is taken at midnight, a year or a month alone from its first day (a scanned
    print dated "1975" sorts in 1975). A zone given with it (Z, +02:00) is its offset."""
    match = _XMP_DATE.match(value or "")
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        when = datetime(
            int(year),
            int(month or 1) or 1,  # 00: not known
            int(day or 1) or 1,
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
        )
    except ValueError:  # year 0, month 13, 25 o'clock ...
        return None
    offset = None
    if zone:
        offset = UTC if zone == "Z" else exif.parse_offset(f"{zone[:3]}:{zone[-2:]}")
    return exif.CaptureStamp(when, offset, fraction, source)


@dataclass(frozen=True)
class Packet:
    """A packet ready to parse: the wrapper before and after the XML, kept as bytes (written
    back verbatim), the XML itself as UTF-8 (what the parsers are given, without its
    declaration), and the encoding a rewrite is written in."""

    head: bytes
    xml: bytes
    tail: bytes
    encoding: str  # a Python codec name: utf-8, utf-16-le/-be or utf-32-le/-be


def decode_packet(data: bytes | str) -> Packet:
    """The packet split and decoded in the encoding it is written in (a byte-order mark, else
    the XML declaration, else UTF-8); XmpError for what must not or cannot be parsed.

    UTF-16 and UTF-32 packets (XMP allows them) are rewritten in their own encoding. A
    declared encoding that is not Unicode (ISO-8859-1, windows-1252, US-ASCII) is read in it,
    and a rewrite is UTF-8 with the declaration saying so: XMP allows only Unicode, exiftool
    reads such bytes as UTF-8 whatever the declaration says, and one rewrite written in one
    encoding and declared in another would make "café" read as "cafÃ©" elsewhere."""
    if isinstance(data, str):
        return _text_packet(data, "utf-8", b"")
    raw = bytes(data)
    if len(raw) > MAX_PACKET_BYTES:
        raise XmpError(f"XMP packet of {len(raw)} bytes (over {MAX_PACKET_BYTES}): not read")
    wide = _wide_encoding(raw)
    if wide is not None:
        codec, bom = wide
        try:
            text = raw[bom:].decode(codec)
        except UnicodeDecodeError as exc:
            raise XmpError(f"not valid {codec.upper()}: {exc.reason} at byte {exc.start}") from None
        return _text_packet(text, codec, raw[:bom])
    return _narrow_packet(raw)


def _narrow_packet(raw: bytes) -> Packet:
    """A packet in an encoding that writes ASCII as ASCII (UTF-8, ISO-8859-1, ...)."""
    raw = raw.rstrip(b"\x00")  # embedded packets may end in NUL padding
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise XmpError(_DTD_REFUSED)
    bom = len(_BOM) if raw.startswith(_BOM) else 0  # a byte-order mark before the wrapper
    head = _HEAD.match(raw, bom)  # match() anchors at `bom`
    start = head.end()
    # The tail found by hand, not by a regex: a search over a long run of padding spaces
    # would be quadratic.
    last = raw.rfind(b"<?xpacket", start)
    if last != -1 and raw[last + len(b"<?xpacket") :].lstrip().startswith(b"end"):
        end = len(raw[:last].rstrip())
    else:
        end = len(raw.rstrip())
    declared = head.group("encoding")
    if bom or declared is None:
        return Packet(raw[:start], raw[start:end], raw[end:], "utf-8")
    name = declared.decode("ascii")
    codec = _codec(name)
    if codec == "utf-8":
        return Packet(raw[:start], raw[start:end], raw[end:], "utf-8")
    try:
        text = raw[start:end].decode(codec)
    except UnicodeDecodeError as exc:
        raise XmpError(f"not valid {name}: {exc.reason} at byte {start + exc.start}") from None
    except (UnicodeError, ValueError) as exc:
        raise XmpError(f"not valid {name}: {exc}") from None
    # Rewritten as UTF-8 (see decode_packet): the declaration is made to say so.
    head_bytes = _DECLARED.sub(rb"\g<1>UTF-8\g<2>", raw[:start], count=1)
    return Packet(head_bytes, text.encode("utf-8"), raw[end:], "utf-8")


def _codec(name: str) -> str:
    """The Python codec of a declared encoding that writes ASCII as ASCII."""
    try:
        codec = codecs.lookup(name).name
        if codec in _NOT_CHARSETS:
            raise LookupError(codec)
        # Raises LookupError for Python's bytes-to-bytes codecs (base64, zlib, rot13).
        ascii_ok = "<?xml?>".encode(codec, errors="replace") == b"<?xml?>"
    except (LookupError, UnicodeError, ValueError):
        raise XmpError(f"declares the encoding {name!r}, which is not known: not read") from None
    if not ascii_ok:
        # UTF-16 declared over bytes that are not (they would start with a byte-order mark
        # or a zero byte), or an encoding such as EBCDIC: the declaration is wrong.
        raise XmpError(f"declares the encoding {name!r}, but is not written in it: not read")
    return "utf-8" if codec in ("utf-8", "utf-8-sig") else codec


def _wide_encoding(raw: bytes) -> tuple[str, int] | None:
    """(codec, byte-order-mark length) of a UTF-16 or UTF-32 packet, told by its mark or by
    where the zero bytes of its first character are (XML 1.0, appendix F); else None."""
    for mark, codec in _WIDE_MARKS:
        if raw.startswith(mark):
            return codec, len(mark)
    first = raw[:4]
    if len(first) < 4:
        return None
    if first[:3] == b"\x00\x00\x00":
        return "utf-32-be", 0
    if first[1:] == b"\x00\x00\x00":
        return "utf-32-le", 0
    if first[0] == 0 and first[2] == 0:
        return "utf-16-be", 0
    if first[1] == 0 and first[3] == 0:
        return "utf-16-le", 0
    return None


def _text_packet(text: str, codec: str, bom: bytes) -> Packet:
    """A packet already decoded (a str, or a UTF-16/32 packet): split as _narrow_packet does,
    with the wrapper given back in `codec`, so that a rewrite keeps it byte for byte."""
    text = text.rstrip("\x00")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XmpError(_DTD_REFUSED)
    start = _HEAD_TEXT.match(text, 1 if text.startswith("\ufeff") else 0).end()
    last = text.rfind("<?xpacket", start)
    if last != -1 and text[last + len("<?xpacket") :].lstrip().startswith("end"):
        end = len(text[:last].rstrip())
    else:
        end = len(text.rstrip())
    return Packet(
        bom + text[:start].encode(codec, errors="surrogatepass"),
        text[start:end].encode("utf-8", errors="surrogatepass"),  # expat refuses a lone surrogate
        text[end:].encode(codec, errors="surrogatepass"),
        codec,
    )


def _rdf_element(data: bytes | str) -> ET.Element:
    try:
        root = ET.fromstring(decode_packet(data).xml)
    except ET.ParseError as exc:
        raise XmpError(f"not well-formed XML: {exc}") from None
    rdf = next(root.iter(f"{{{RDF}}}RDF"), None)
    if rdf is None:
        raise XmpError("no rdf:RDF element: not an XMP packet")
    return rdf


def _top_nodes(rdf: ET.Element) -> tuple[list[ET.Element], dict[str, ET.Element]]:
    """The property holders (every top-level rdf:Description, as exiftool reads them) and the
    nodes named by rdf:nodeID, which properties elsewhere may refer to."""
    named = {node.get(_NODE_ID): node for node in rdf if node.get(_NODE_ID)}
    return [node for node in rdf if node.tag == _DESCRIPTION], named


def read_properties(data: bytes | str) -> _Properties:
    """The packet's top-level properties, for readers of other schemas (mwg_regions.py)."""
    return _Properties(_top_nodes(_rdf_element(data)))


class _Properties:
    """Property look-up over several rdf:Description blocks: the first that has it wins."""

    def __init__(self, nodes: tuple[list[ET.Element], dict[str, ET.Element]]):
        self._descriptions, self._named = nodes

    def _find(self, ns: str, name: str) -> str | ET.Element | None:
        key = f"{{{ns}}}{name}"
        for description in self._descriptions:
            if key in description.attrib:
                return description.attrib[key]
            element = description.find(key)
            if element is not None:
                return element
        return None

    def find(self, ns: str, name: str) -> str | ET.Element | None:
        """A top-level property: its text where it is an attribute, else its element."""
        return self._find(ns, name)

    def resolve(self, element: ET.Element) -> ET.Element:
        """The node an element refers to by rdf:nodeID, else the element itself."""
        return self._resolve(element)

    def _resolve(self, element: ET.Element) -> ET.Element:
        """The element's value node: a referenced top-level node, or its only child."""
        ref = element.get(_NODE_ID)
        if ref and ref in self._named and not len(element):
            return self._named[ref]
        return element

    def text(self, ns: str, name: str) -> str | None:
        found = self._find(ns, name)
        if found is None or isinstance(found, str):
            return found
        return self._simple(self._resolve(found))

    def _simple(self, element: ET.Element) -> str | None:
        if _VALUE in element.attrib:
            return element.attrib[_VALUE]
        if element.tag in (_DESCRIPTION, *_CONTAINERS):
            return self._simple(element[0]) if len(element) else None
        child = element.find(_VALUE) if len(element) else None
        if child is not None:
            return child.text
        if len(element) and element[0].tag == _DESCRIPTION:
            return self._simple(element[0])
        return element.text if not len(element) else None

    def _container(self, ns: str, name: str) -> list[ET.Element] | str | None:
        found = self._find(ns, name)
        if found is None or isinstance(found, str):
            return found
        node = self._resolve(found)
        if node.tag not in _CONTAINERS:
            container = next((c for c in node if c.tag in _CONTAINERS), None)
            if container is None:
                return self._simple(node)  # a bare value where a list belongs: one item
            node = self._resolve(container)
        return [self._resolve(li) for li in node if li.tag == _LI]

    def items(self, ns: str, name: str) -> list[str]:
        found = self._container(ns, name)
        if found is None:
            return []
        if isinstance(found, str):
            return [found]
        return [v for v in (self._simple(li) for li in found) if v is not None]

    def language_default(self, ns: str, name: str) -> str | None:
        found = self._container(ns, name)
        if found is None or isinstance(found, str):
            return found
        chosen = next((li for li in found if li.get(_LANG) == "x-default"), None)
        chosen = chosen if chosen is not None else (found[0] if found else None)
        return None if chosen is None else self._simple(chosen)


def _clean(value: str | None) -> str | None:
    value = value.strip() if isinstance(value, str) else None
    return value or None


def _rating(value: str | None) -> float | None:
    try:
        rating = float(value) if value is not None else None
    except ValueError:
        return None
    if rating is None or not -1 <= rating <= 5:
        return None
    return int(rating) if rating == int(rating) else rating


# -- rewriting a sidecar ----------------------------------------------------------------------


@dataclass(frozen=True)
class Keywords:
    """What one write puts into a sidecar: leaves for dc:subject, `a|b|c` paths for
    lr:hierarchicalSubject and `a/b/c` paths for digiKam:TagsList."""

    leaves: tuple[str, ...]
    hierarchical: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Owned:
    """Which of a sidecar's keywords are ours: our hierarchy's root in the paths, and the
    leaves our record says we added."""

    root: str  # "photoanalyzer": `photoanalyzer|…` and `photoanalyzer/…` are ours

    def hierarchical(self, value: str) -> bool:
        return value == self.root or value.startswith(self.root + "|")

    def tag(self, value: str) -> bool:
        return value == self.root or value.startswith(self.root + "/")


FRESH_SIDECAR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photoanalyzer">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about=""/>\n'
    " </rdf:RDF>\n"
    "</x:xmpmeta>\n"
)


@dataclass(frozen=True)
class Merge:
    """The result of merging: the new text (None when nothing changes) and what changed."""

    text: bytes | None
    added: tuple[str, ...]  # leaves and paths that appear
    removed: tuple[str, ...]  # those that go


def merge_keywords(existing: bytes | None, wanted: Keywords, owned: Owned) -> Merge:
    """Our keywords merged into a sidecar's text (a fresh one when `existing` is None): every
    node, attribute, comment and namespace declaration not ours is kept as it was; our earlier
    keywords are replaced by `wanted`. Only the three keyword properties and our record change."""
    packet = decode_packet(existing if existing is not None else FRESH_SIDECAR.encode())
    doc = _parse_dom(packet.xml)
    rdf = _dom_rdf(doc)
    holder = _holder(doc, rdf)
    editor = _Editor(doc, rdf, holder)
    before_leaves = editor.values(DC, "subject")
    our_leaves = [v for v in editor.values(OURS, "AddedSubjects") if v in before_leaves]
    old = {
        "subject": before_leaves,
        "hierarchical": editor.values(LR, "hierarchicalSubject"),
        "tags": editor.values(DIGIKAM, "TagsList"),
    }
    kept_leaves = [v for v in before_leaves if v not in our_leaves]
    added_leaves = [v for v in wanted.leaves if v not in kept_leaves]
    new = {
        "subject": kept_leaves + added_leaves,
        "hierarchical": [v for v in old["hierarchical"] if not owned.hierarchical(v)]
        + list(wanted.hierarchical),
        "tags": [v for v in old["tags"] if not owned.tag(v)] + list(wanted.tags),
    }
    changed = (
        new != old
        or sorted(our_leaves) != sorted(added_leaves)
        or editor.kind(LR, "hierarchicalSubject") not in (None, "Bag")
    )
    if not changed and existing is not None:
        return Merge(None, (), ())
    editor.set(DC, "subject", "Bag", new["subject"])
    editor.set(LR, "hierarchicalSubject", "Bag", new["hierarchical"])  # a Bag, never a Seq
    editor.set(DIGIKAM, "TagsList", "Seq", new["tags"])
    editor.set(OURS, "AddedSubjects", "Bag", added_leaves)
    before = set().union(*map(set, old.values()))
    after = set().union(*map(set, new.values()))
    return Merge(
        _serialize(doc, packet), tuple(sorted(after - before)), tuple(sorted(before - after))
    )


def _parse_dom(data: bytes) -> minidom.Document:
    try:
        return minidom.parseString(data)
    except ExpatError as exc:
        raise XmpError(f"not well-formed XML: {exc}") from None


def _dom_rdf(doc: minidom.Document) -> minidom.Element:
    found = doc.getElementsByTagNameNS(RDF, "RDF")
    if not found:
        raise XmpError("no rdf:RDF element: not an XMP packet")
    return found[0]


def _descriptions(rdf: minidom.Element) -> list[minidom.Element]:
    return [
        n
        for n in rdf.childNodes
        if n.nodeType == n.ELEMENT_NODE and n.namespaceURI == RDF and n.localName == "Description"
    ]


def _holder(doc: minidom.Document, rdf: minidom.Element) -> minidom.Element:
    """The rdf:Description our properties go into when they are new: the first about the
    photo itself (no rdf:nodeID), else a new one."""
    for description in _descriptions(rdf):
        if not description.hasAttributeNS(RDF, "nodeID"):
            return description
    description = doc.createElementNS(RDF, _qualified(rdf, RDF, "Description"))
    description.setAttributeNS(RDF, _qualified(rdf, RDF, "about"), "")
    rdf.appendChild(description)
    return description


def _elements(node: minidom.Node) -> list[minidom.Element]:
    return [n for n in node.childNodes if n.nodeType == n.ELEMENT_NODE]


class _Editor:
    """Finds and rewrites one list property wherever it is (an element in any top-level
    rdf:Description, or a simple attribute), adding it to the holder when it is absent."""

    def __init__(self, doc: minidom.Document, rdf: minidom.Element, holder: minidom.Element):
        self._doc, self._rdf, self._holder = doc, rdf, holder

    def _find(self, ns: str, name: str) -> tuple[minidom.Element, minidom.Element | None]:
        """(the Description that has it, the property element or None for an attribute)."""
        for description in _descriptions(self._rdf):
            for element in _elements(description):
                if element.namespaceURI == ns and element.localName == name:
                    return description, element
            if description.hasAttributeNS(ns, name):
                return description, None
        raise KeyError(name)

    def _container(self, element: minidom.Element) -> minidom.Element | None:
        ref = element.getAttributeNS(RDF, "nodeID")
        if ref and not _elements(element):
            for node in _elements(self._rdf):
                if node.getAttributeNS(RDF, "nodeID") == ref:
                    return node
        kids = [e for e in _elements(element) if e.namespaceURI == RDF]
        return kids[0] if kids and kids[0].localName in ("Bag", "Seq", "Alt") else None

    def values(self, ns: str, name: str) -> list[str]:
        try:
            description, element = self._find(ns, name)
        except KeyError:
            return []
        if element is None:
            return [description.getAttributeNS(ns, name)]
        container = self._container(element)
        if container is None:
            return [_text(element)] if _text(element) else []
        return [
            _text(li)
            for li in _elements(container)
            if li.namespaceURI == RDF and li.localName == "li"
        ]

    def kind(self, ns: str, name: str) -> str | None:
        try:
            _, element = self._find(ns, name)
        except KeyError:
            return None
        container = self._container(element) if element is not None else None
        return container.localName if container is not None else "text"

    def set(self, ns: str, name: str, kind: str, values: list[str]) -> None:
        """The property as a fresh `kind` container of `values`, in the place it had; removed
        when `values` is empty. A container referred to by rdf:nodeID is left for others."""
        try:
            description, element = self._find(ns, name)
        except KeyError:
            description, element = self._holder, None
        else:
            if element is None:
                description.removeAttributeNS(ns, name)
        if not values:
            if element is not None:
                _remove_with_indent(element)
            return
        new = self._property(description, ns, name, kind, values)
        if element is not None:
            description.replaceChild(new, element)
        else:
            _append_indented(description, new)

    def _property(
        self, description: minidom.Element, ns: str, name: str, kind: str, values: list[str]
    ) -> minidom.Element:
        doc = self._doc
        element = doc.createElementNS(ns, _qualified(description, ns, name))
        container = doc.createElementNS(RDF, _qualified(description, RDF, kind))
        for value in values:
            li = doc.createElementNS(RDF, _qualified(description, RDF, "li"))
            li.appendChild(doc.createTextNode(value))
            container.appendChild(li)
        element.appendChild(container)
        return element


def _text(element: minidom.Element) -> str:
    return "".join(
        n.data for n in element.childNodes if n.nodeType in (n.TEXT_NODE, n.CDATA_SECTION_NODE)
    ).strip()


def _qualified(node: minidom.Element, ns: str, name: str) -> str:
    """`prefix:name` with the prefix bound to `ns` where `node` is; a declaration of our usual
    prefix is added to `node` when none is in scope (numbered if that prefix is taken)."""
    scope: dict[str, str] = {}
    walker: minidom.Node | None = node
    while walker is not None and walker.nodeType == walker.ELEMENT_NODE:
        for attr in walker.attributes.values():
            if attr.name.startswith("xmlns:"):
                scope.setdefault(attr.name[6:], attr.value)
        walker = walker.parentNode
    for prefix, uri in scope.items():
        if uri == ns:
            return f"{prefix}:{name}"
    base = PREFIXES.get(ns, "ns")
    prefix, n = base, 1
    while prefix in scope:
        n += 1
        prefix = f"{base}{n}"
    node.setAttributeNS(XMLNS, f"xmlns:{prefix}", ns)
    return f"{prefix}:{name}"


def _indent_of(element: minidom.Element) -> str:
    previous = element.previousSibling
    if previous is not None and previous.nodeType == previous.TEXT_NODE:
        return previous.data
    return "\n"


def _append_indented(description: minidom.Element, new: minidom.Element) -> None:
    """`new` after the last property, indented as that one is (or on a line of its own)."""
    kids = _elements(description)
    doc = description.ownerDocument
    after = kids[-1].nextSibling if kids else None
    if not kids and description.lastChild is None:
        description.appendChild(doc.createTextNode("\n  "))  # <rdf:Description/> is opened
        after = description.lastChild
    description.insertBefore(doc.createTextNode(_indent_of(kids[-1]) if kids else "\n   "), after)
    description.insertBefore(new, after)


def _remove_with_indent(element: minidom.Element) -> None:
    previous = element.previousSibling
    parent = element.parentNode
    if (
        previous is not None
        and previous.nodeType == previous.TEXT_NODE
        and not previous.data.strip()
    ):
        parent.removeChild(previous)
    parent.removeChild(element)


def _serialize(doc: minidom.Document, packet: Packet) -> bytes:
    """The document between the wrapper it had, byte for byte (a fresh sidecar's is an XML
    declaration, as darktable's and digiKam's are), in the packet's encoding. minidom writes
    no declaration itself."""
    body = "\n".join(_xml_text(node) for node in doc.childNodes).encode(packet.encoding)
    tail = packet.tail
    if not tail.decode(packet.encoding, errors="replace").strip():
        tail = "\n".encode(packet.encoding)  # a file ends in a newline
    return packet.head + body + tail


def _xml_text(top: minidom.Node) -> str:
    """A node as XML text. Not minidom's toxml: before Python 3.13 it writes a newline, tab
    or carriage return in an attribute value as itself, which every XML reader then reads
    as a space (XML 1.0, 3.3.3), so `Instructions="line1&#xA;line2"` would come back as
    `line1 line2`. Iterative, so that a deeply nested packet cannot exhaust the stack."""
    out: list[str] = []
    stack: list[minidom.Node | str] = [top]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)  # an end tag
        elif node.nodeType == node.ELEMENT_NODE:
            out.append("<" + node.tagName)
            for name, value in node.attributes.items():
                out.append(f' {name}="{_escape_attribute(value)}"')
            if not node.childNodes:
                out.append("/>")
                continue
            out.append(">")
            stack.append(f"</{node.tagName}>")
            stack.extend(reversed(node.childNodes))
        elif node.nodeType == node.TEXT_NODE:
            out.append(_escape_text(node.data))
        elif node.nodeType == node.CDATA_SECTION_NODE:
            out.append(f"<![CDATA[{node.data}]]>")
        elif node.nodeType == node.COMMENT_NODE:
            out.append(f"<!--{node.data}-->")
        elif node.nodeType == node.PROCESSING_INSTRUCTION_NODE:
            out.append(f"<?{node.target} {node.data}?>" if node.data else f"<?{node.target}?>")
    return "".join(out)


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
# Whitespace other than the space is a reference in an attribute, or a reader makes it a space.
_ATTRIBUTE_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#xA;",
        "\r": "&#xD;",
        "\t": "&#x9;",
    }
)


def _escape_text(data: str) -> str:
    # A carriage return read from a reference (&#xD;) stays one: written raw, the next
    # reader would turn it into a newline (XML 1.0, 2.11).
    return data.translate(_TEXT_ESCAPES)


def _escape_attribute(value: str) -> str:
    return value.translate(_ATTRIBUTE_ESCAPES)
