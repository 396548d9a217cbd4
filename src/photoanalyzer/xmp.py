"""XMP packets: reading the facts people record (rating, label, keywords, description) and
merging our keywords into a sidecar without losing anything another program wrote.

Standard-library XML (expat, through ElementTree for reading and minidom for rewriting), with
the RDF forms XMP uses handled here: properties as attributes or elements, rdf:Bag/Seq/Alt
of rdf:li, rdf:nodeID references to top-level nodes, rdf:parseType="Resource" and rdf:value,
several rdf:Description blocks, an x:xmpmeta wrapper or a bare rdf:RDF, xpacket instructions.
A packet with a DOCTYPE is refused before it is parsed: XMP allows none, and a DTD is where
entity-expansion bombs live (docs/architecture.md says why no other library)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.dom import minidom
from xml.parsers.expat import ExpatError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
XMLNS = "http://www.w3.org/2000/xmlns/"
XMP = "http://ns.adobe.com/xap/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
META = "adobe:ns:meta/"
# Our own record of the dc:subject leaves we added (those that were not there before), so a
# later write removes exactly those and never a keyword the user had typed themselves.
OURS = "https://github.com/photoanalyzer/ns/xmp/1.0/"
PREFIXES = {RDF: "rdf", DC: "dc", LR: "lr", DIGIKAM: "digiKam", OURS: "photoanalyzer", META: "x"}

_CONTAINERS = frozenset(f"{{{RDF}}}{kind}" for kind in ("Bag", "Seq", "Alt"))
_DESCRIPTION, _LI, _VALUE = f"{{{RDF}}}Description", f"{{{RDF}}}li", f"{{{RDF}}}value"
_NODE_ID, _RESOURCE, _PARSE_TYPE = f"{{{RDF}}}nodeID", f"{{{RDF}}}resource", f"{{{RDF}}}parseType"
_LANG = f"{{{XML}}}lang"
MAX_PACKET_BYTES = 16 * 1024 * 1024  # a sidecar or packet larger than this is not read
# The packet wrapper: an XML declaration and <?xpacket begin=...?> before the XML, and
# <?xpacket end=...?> after it. Kept as bytes, verbatim, and not parsed: writers put a raw
# BOM or even a control character (0x1A, f-spot) in `begin`, which no XML parser accepts.
_HEAD = re.compile(rb"(?:\s*<\?xml\s[^>]*\?>)?(?:\s*<\?xpacket\s[^>]*\?>)?\s*")
_BOM = b"\xef\xbb\xbf"


class XmpError(ValueError):
    """The packet is not XMP we can read (not XML, no rdf:RDF, a DTD, too large)."""


@dataclass(frozen=True)
class XmpFacts:
    rating: float | None = None  # xmp:Rating: -1 (rejected) to 5; whole numbers as int
    label: str | None = None  # xmp:Label (a colour name, usually)
    keywords: tuple[str, ...] = ()  # dc:subject, in the packet's order, without repeats
    description: str | None = None  # dc:description, its x-default language


def read_facts(data: bytes | str) -> XmpFacts:
    """The facts of one packet (a sidecar's bytes, or a packet embedded in a photo)."""
    nodes = _top_nodes(_rdf_element(data))
    props = _Properties(nodes)
    return XmpFacts(
        rating=_rating(props.text(XMP, "Rating")),
        label=_clean(props.text(XMP, "Label")),
        keywords=tuple(dict.fromkeys(k for k in map(_clean, props.items(DC, "subject")) if k)),
        description=_clean(props.language_default(DC, "description")),
    )


def split_packet(data: bytes | str) -> tuple[bytes, bytes, bytes]:
    """(wrapper head, the XML to parse, wrapper tail); XmpError for what must not be parsed."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_PACKET_BYTES:
        raise XmpError(f"XMP packet of {len(raw)} bytes (over {MAX_PACKET_BYTES}): not read")
    raw = raw.rstrip(b"\x00")  # embedded packets may end in NUL padding
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise XmpError("XMP with a DOCTYPE or entity declarations (not allowed in XMP): not read")
    bom = len(_BOM) if raw.startswith(_BOM) else 0  # a byte-order mark before the wrapper
    start = _HEAD.match(raw, bom).end()  # match() anchors at `bom`
    # The tail found by hand, not by a regex: a search over a long run of padding spaces
    # would be quadratic.
    last = raw.rfind(b"<?xpacket", start)
    if last != -1 and raw[last + len(b"<?xpacket") :].lstrip().startswith(b"end"):
        end = len(raw[:last].rstrip())
    else:
        end = len(raw.rstrip())
    return raw[:start], raw[start:end], raw[end:]


def _rdf_element(data: bytes | str) -> ET.Element:
    try:
        root = ET.fromstring(split_packet(data)[1])
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
    head, body, tail = split_packet(existing if existing is not None else FRESH_SIDECAR)
    doc = _parse_dom(body)
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
        _serialize(doc, head, tail), tuple(sorted(after - before)), tuple(sorted(before - after))
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


def _serialize(doc: minidom.Document, head: bytes, tail: bytes) -> bytes:
    """The document between the wrapper it had, byte for byte (a fresh sidecar's is an XML
    declaration, as darktable's and digiKam's are). minidom writes no declaration itself."""
    body = "\n".join(node.toxml() for node in doc.childNodes).encode("utf-8")
    return head + body + (tail if tail.strip() else b"\n")
