"""XMP sidecars of other programs, written here, so that reading them and "every field another
program wrote is kept" by `xmp write` are tested on every clone, without the shared corpus:
simple properties as attributes (Lightroom's form) and as elements, a Seq, a Bag, an Alt,
rdf:Description blocks with nested structs (regions, contact info, edit history), comments,
a second rdf:Description, and the xpacket wrapper with a byte-order mark and padding.

What is kept is checked by a reading of the XML made here with ElementTree (every element,
attribute, text and comment outside the three keyword properties we own), and, where exiftool
is installed, by exiftool's reading too (tests/test_xmp_write.py's comparison)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from photoanalyzer.formats import xmp
from photoanalyzer.phases.metadata import MetadataPhase
from support.imagegen import write_photo
from support.requirements import needs
from test_xmp_write import OURS, digest, exiftool_xmp, ml, store_ml

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
OUR_NS = "https://github.com/photoanalyzer/ns/xmp/1.0/"
# The properties `xmp write` rewrites (keeping the values that are not ours in them).
OWNED = {f"{{{DC}}}subject", f"{{{LR}}}hierarchicalSubject", f"{{{DIGIKAM}}}TagsList"}


@dataclass(frozen=True)
class Sidecar:
    """A sidecar as another program left it, and what its user recorded in it."""

    text: str
    facts: xmp.XmpFacts
    hierarchical: tuple[str, ...] = ()  # the user's lr:hierarchicalSubject paths
    tags: tuple[str, ...] = ()  # the user's digiKam:TagsList paths
    head: str = ""  # the wrapper before the XML, to be kept byte for byte
    tail: str = ""  # and after it

    @property
    def data(self) -> bytes:
        return (self.head + self.text + self.tail).encode("utf-8")


# Lightroom Classic's shape: xpacket wrapper (a BOM in `begin`, padding before `end`), simple
# properties as attributes of one rdf:Description, lists and structs as elements.
LIGHTROOM = Sidecar(
    head='<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n',
    text="""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <!-- written by photoanalyzer's tests, in the shape Lightroom Classic writes -->
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmp:Rating="4"
    xmp:Label="Green"
    xmp:ModifyDate="2024-03-09T18:04:11+01:00"
    photoshop:City="Zürich"
    photoshop:Instructions="keep the &lt;crop&gt; &quot;as is&quot; &amp; print"
    crs:Version="16.2"
    crs:Exposure2012="+0.35"
    crs:WhiteBalance="As Shot"
    xmpMM:DocumentID="xmp.did:0d2c5f3e-1f6a-4b51-9b0c-3f2a6de1c0aa">
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Zürich</rdf:li>
     <rdf:li>lake &amp; boats</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>places|Switzerland|Zürich</rdf:li>
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <dc:description>
    <rdf:Alt>
     <rdf:li xml:lang="de">Abend am See</rdf:li>
     <rdf:li xml:lang="x-default">Evening on the lake</rdf:li>
    </rdf:Alt>
   </dc:description>
   <dc:creator>
    <rdf:Seq>
     <rdf:li>Ana Example</rdf:li>
     <rdf:li>Ben Example</rdf:li>
    </rdf:Seq>
   </dc:creator>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="derived" stEvt:parameters="converted from image/x-canon-cr2"/>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>saved</stEvt:action>
      <stEvt:when>2024-03-09T18:04:11+01:00</stEvt:when>
      <stEvt:softwareAgent>Adobe Photoshop Lightroom Classic 13.2</stEvt:softwareAgent>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
   <crs:ToneCurvePV2012>
    <rdf:Seq>
     <rdf:li>0, 0</rdf:li>
     <rdf:li>255, 255</rdf:li>
    </rdf:Seq>
   </crs:ToneCurvePV2012>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>""",
    tail="\n" + (" " * 99 + "\n") * 20 + '<?xpacket end="w"?>',
    facts=xmp.XmpFacts(
        rating=4,
        label="Green",
        keywords=("Zürich", "lake & boats"),
        description="Evening on the lake",
    ),
    hierarchical=("places|Switzerland|Zürich",),
)

# darktable's and digiKam's shape: an XML declaration, properties as elements, comments among
# them, darktable's history (a Seq of structs, one in each form), MWG face regions (a struct
# holding a Bag of rdf:Description structs, each with a nested struct), IPTC contact info
# (rdf:parseType="Resource"), a Seq where Lightroom's paths belong (darktable's old bug: ours
# to turn into a Bag), digiKam's tags, and a second rdf:Description with EXIF facts.
DARKTABLE = Sidecar(
    head='<?xml version="1.0" encoding="UTF-8"?>\n',
    text="""<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <!-- a comment before the RDF -->
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:darktable="http://darktable.sf.net/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    darktable:xmp_version="5"
    darktable:raw_params="0"
    darktable:auto_presets_applied="1">
   <xmp:Rating>2</xmp:Rating>
   <!-- darktable's edit history: a Seq of structs -->
   <darktable:history>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <darktable:num>0</darktable:num>
      <darktable:operation>exposure</darktable:operation>
      <darktable:enabled>1</darktable:enabled>
      <darktable:params>0000000000000000</darktable:params>
     </rdf:li>
     <rdf:li darktable:num="1" darktable:operation="colorin" darktable:enabled="1"/>
    </rdf:Seq>
   </darktable:history>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="3000" stDim:unit="pixel"/>
    <mwg-rs:RegionList>
     <rdf:Bag>
      <rdf:li>
       <rdf:Description mwg-rs:Name="Ana" mwg-rs:Type="Face">
        <mwg-rs:Area stArea:x="0.5" stArea:y="0.4" stArea:w="0.1" stArea:h="0.15"
          stArea:unit="normalized"/>
       </rdf:Description>
      </rdf:li>
      <rdf:li>
       <rdf:Description>
        <mwg-rs:Name>Ben</mwg-rs:Name>
        <mwg-rs:Type>Face</mwg-rs:Type>
        <mwg-rs:Area rdf:parseType="Resource">
         <stArea:x>0.25</stArea:x>
         <stArea:y>0.5</stArea:y>
         <stArea:w>0.1</stArea:w>
         <stArea:h>0.12</stArea:h>
         <stArea:unit>normalized</stArea:unit>
        </mwg-rs:Area>
       </rdf:Description>
      </rdf:li>
     </rdf:Bag>
    </mwg-rs:RegionList>
   </mwg-rs:Regions>
   <Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">
    <Iptc4xmpCore:CiAdrCity>Lyon</Iptc4xmpCore:CiAdrCity>
    <Iptc4xmpCore:CiEmailWork>ana@example.org</Iptc4xmpCore:CiEmailWork>
   </Iptc4xmpCore:CreatorContactInfo>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Lyon</rdf:li>
     <rdf:li>Ana</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Seq>
     <rdf:li>people|Ana</rdf:li>
    </rdf:Seq>
   </lr:hierarchicalSubject>
   <digiKam:TagsList>
    <rdf:Seq>
     <rdf:li>people/Ana</rdf:li>
    </rdf:Seq>
   </digiKam:TagsList>
   <!-- a comment after the last property -->
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"
    exif:DateTimeOriginal="2022-05-01T09:30:00">
   <exif:Flash rdf:parseType="Resource">
    <exif:Fired>False</exif:Fired>
    <exif:Mode>2</exif:Mode>
   </exif:Flash>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
""",
    facts=xmp.XmpFacts(rating=2, keywords=("Lyon", "Ana")),
    hierarchical=("people|Ana",),
    tags=("people/Ana",),
)

# A bare rdf:RDF (no x:xmpmeta), as small tools write it: the keywords as a Seq, the title and
# the rights as Alts, and nothing else.
BARE = Sidecar(
    head="<?xml version='1.0' encoding='utf-8'?>\n",
    text="""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Label="Red">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour</rdf:li></rdf:Alt></dc:title>
<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© 2021 Ana Example</rdf:li></rdf:Alt></dc:rights>
<dc:subject><rdf:Seq><rdf:li>harbour</rdf:li></rdf:Seq></dc:subject>
</rdf:Description>
</rdf:RDF>
""",
    facts=xmp.XmpFacts(label="Red", keywords=("harbour",)),
)

SIDECARS = {"lightroom": LIGHTROOM, "darktable": DARKTABLE, "bare": BARE}
sidecars = pytest.mark.parametrize("sidecar", SIDECARS.values(), ids=SIDECARS.keys())


# --- a reading of the XML independent of xmp.py --------------------------------------------


def _parse(data: bytes) -> ET.Element:
    # The xpacket wrapper is made of processing instructions, which expat reads here (these
    # sidecars hold no control character in it); comments are kept as nodes.
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    parser.feed(data)
    return parser.close()


def _node(element: ET.Element) -> tuple:
    """An element and everything under it, prefixes and layout aside."""
    if element.tag is ET.Comment:
        return ("comment", element.text)
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(_node(child) for child in element),
    )


def others(data: bytes) -> list[tuple]:
    """Every field and comment of a sidecar outside the keyword properties `xmp write` owns:
    the wrapper's attributes, each top-level node of rdf:RDF and each property of each
    rdf:Description, in order."""
    root = _parse(data)
    found: list[tuple] = [("root", root.tag, tuple(sorted(root.attrib.items())))]
    found += [("comment", c.text) for c in root if c.tag is ET.Comment]
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    for node in rdf:
        if node.tag != f"{{{RDF}}}Description":
            found.append(_node(node))
            continue
        mine = {k: v for k, v in node.attrib.items() if k not in OWNED}
        found.append(("description", tuple(sorted(mine.items()))))
        for prop in node:
            if prop.tag not in OWNED and not str(prop.tag).startswith(f"{{{OUR_NS}}}"):
                found.append(_node(prop))
    return found


def values(data: bytes, prop: str) -> list[str]:
    """The items of a list property, read here."""
    element = next(_parse(data).iter(prop), None)
    if element is None:
        return []
    return [(li.text or "").strip() for li in element.iter(f"{{{RDF}}}li")]


def keywords(leaves: list[str], kind: str = "scene") -> xmp.Keywords:
    return xmp.Keywords(
        leaves=tuple(leaves),
        hierarchical=tuple(f"photoanalyzer|{kind}|{leaf}" for leaf in leaves),
        tags=tuple(f"photoanalyzer/{kind}/{leaf}" for leaf in leaves),
    )


# --- reading --------------------------------------------------------------------------------


@sidecars
def test_the_facts_of_another_programs_sidecar_are_read(sidecar):
    assert xmp.read_facts(sidecar.data) == sidecar.facts


@sidecars
def test_the_metadata_phase_reads_a_sidecar_beside_the_photo(tmp_path, sidecar):
    photo = write_photo(tmp_path / "p.jpg")
    Path(f"{photo}.xmp").write_bytes(sidecar.data)
    outcome = MetadataPhase().analyze(str(photo), "photo")
    assert outcome.error is None
    record, facts = outcome.record, sidecar.facts
    assert record["xmp_source"] == "sidecar"
    assert (record["rating"], record["label"], record["description"]) == (
        facts.rating,
        facts.label,
        facts.description,
    )
    assert record["keywords"] == list(facts.keywords)


@needs(binaries=("exiftool",))
@sidecars
def test_exiftool_reads_the_same_rating_and_subjects(tmp_path, sidecar):
    path = tmp_path / "s.xmp"
    path.write_bytes(sidecar.data)
    read = exiftool_xmp(path)
    assert read.get("XMP-xmp:Rating") == sidecar.facts.rating
    subjects = read.get("XMP-dc:Subject", [])
    assert (subjects if isinstance(subjects, list) else [subjects]) == list(sidecar.facts.keywords)


# --- merging: every field another program wrote is kept -----------------------------------


@sidecars
def test_a_merge_keeps_every_field_comment_and_the_wrapper_and_replaces_only_ours(sidecar):
    owned = xmp.Owned("photoanalyzer")
    first = xmp.merge_keywords(sidecar.data, keywords(["beach", "dog"]), owned).text
    assert first is not None
    assert others(first) == others(sidecar.data)
    assert first.startswith(sidecar.head.encode()) and first.endswith(sidecar.tail.encode())
    user = list(sidecar.facts.keywords)
    assert values(first, f"{{{DC}}}subject") == [*user, "beach", "dog"]
    assert values(first, f"{{{LR}}}hierarchicalSubject") == [
        *sidecar.hierarchical,
        "photoanalyzer|scene|beach",
        "photoanalyzer|scene|dog",
    ]
    assert values(first, f"{{{DIGIKAM}}}TagsList") == [
        *sidecar.tags,
        "photoanalyzer/scene/beach",
        "photoanalyzer/scene/dog",
    ]
    assert xmp.read_facts(first) == xmp.XmpFacts(
        sidecar.facts.rating,
        sidecar.facts.label,
        (*user, "beach", "dog"),
        sidecar.facts.description,
    )

    # Our labels change: ours are replaced, the user's stay, and the rest is still as it was.
    second = xmp.merge_keywords(first, keywords(["forest"]), owned).text
    assert second is not None
    assert others(second) == others(sidecar.data)
    assert second.startswith(sidecar.head.encode()) and second.endswith(sidecar.tail.encode())
    assert values(second, f"{{{DC}}}subject") == [*user, "forest"]
    assert values(second, f"{{{LR}}}hierarchicalSubject") == [
        *sidecar.hierarchical,
        "photoanalyzer|scene|forest",
    ]
    assert values(second, f"{{{DIGIKAM}}}TagsList") == [*sidecar.tags, "photoanalyzer/scene/forest"]
    # And the same labels again change nothing.
    assert xmp.merge_keywords(second, keywords(["forest"]), owned).text is None


def test_xmp_write_keeps_every_field_of_other_programs_sidecars(cli, tmp_path):
    """The command end to end, over a library holding each sidecar: two writes with other
    labels, the photos never written, each sidecar's other fields unchanged."""
    root = tmp_path / "lib"
    photos = {}
    for i, (name, sidecar) in enumerate(SIDECARS.items()):
        photo = write_photo(root / f"{name}.jpg", seed=i)
        Path(f"{photo}.xmp").write_bytes(sidecar.data)
        photos[photo] = (sidecar, digest(photo))
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    for labels, objects in (([("a beach", 0.8)], {"dog": 2}), ([("a forest", 0.9)], {})):
        store_ml(db, {p: ml(labels, objects) for p in photos})
        out = cli("xmp", "write", "--db", str(db))
        assert f"0 created, {len(photos)} updated" in out.stderr
        for photo, (sidecar, before) in photos.items():
            after = Path(f"{photo}.xmp").read_bytes()
            assert others(after) == others(sidecar.data), photo.name
            assert after.startswith(sidecar.head.encode()), photo.name
            assert after.endswith(sidecar.tail.encode()), photo.name
            assert digest(photo) == before  # the photo itself is never written
    cli("run", str(root), "--db", str(db), "--phases", "metadata")  # the sidecars changed
    rows = cli.export(db)
    for photo, (sidecar, _) in photos.items():
        assert rows[str(photo)]["keywords"] == [*sidecar.facts.keywords, "forest"]
        assert rows[str(photo)]["rating"] == sidecar.facts.rating


@needs(binaries=("exiftool",))
def test_exiftool_sees_every_field_of_other_programs_sidecars_kept(cli, tmp_path):
    """The same write, compared field by field in exiftool's reading of each sidecar."""
    root = tmp_path / "lib"
    photos = []
    for i, (name, sidecar) in enumerate(SIDECARS.items()):
        photo = write_photo(root / f"{name}.jpg", seed=i)
        Path(f"{photo}.xmp").write_bytes(sidecar.data)
        photos.append(photo)
    db = tmp_path / "c.db"
    cli("run", str(root), "--db", str(db), "--phases", "metadata")
    before = {p: exiftool_xmp(Path(f"{p}.xmp")) for p in photos}
    assert all(len(fields) >= 4 for fields in before.values())  # exiftool reads them
    store_ml(db, {p: ml([("a beach", 0.8)], {"person": 1}) for p in photos})
    cli("xmp", "write", "--db", str(db))
    for photo in photos:
        after = exiftool_xmp(Path(f"{photo}.xmp"))
        changed = [k for k, v in before[photo].items() if k not in OURS and after.get(k) != v]
        assert not changed, f"{photo.name}: {changed}"
