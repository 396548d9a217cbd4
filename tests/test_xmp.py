"""Reading XMP: the corpus sidecars against exiftool's reading, the RDF forms, packets
embedded in JPEG and PNG by the tests, sidecar precedence, broken XMP, and a sidecar's change
seen by a real rescan (only the metadata is read again)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from conftest import CORPUS
from photoanalyzer.formats import xmp
from photoanalyzer.formats.xmp_extended import SIGNATURE, XMP_NOTE, extended_packet
from photoanalyzer.library import sidecars
from photoanalyzer.phases.metadata import MetadataPhase
from support.imagegen import photo, write_photo
from support.requirements import corpus_cases, require_binary, require_corpus, require_module

XMP_CORPUS = CORPUS / "xmp"


def packet(body: str, wrapper: bool = True) -> str:
    rdf = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{body}</rdf:RDF>"
    )
    if not wrapper:
        return rdf
    return (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>"
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{rdf}</x:xmpmeta>'
        + " " * 200  # padding, as writers leave room to edit in place
        + "<?xpacket end='w'?>"
    )


def subject(*keywords: str) -> str:
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    return f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>"


def corpus_references(folder: Path = XMP_CORPUS) -> list[dict]:
    reference = folder / "reference.json"
    if not reference.is_file():
        return []
    return json.loads(reference.read_text())["files"]


@pytest.mark.parametrize(
    "ref",
    corpus_cases(XMP_CORPUS, corpus_references, "reference.json"),
    ids=lambda ref: ref["SourceFile"] if ref else "no-corpus",
)
def test_every_corpus_sidecar_reads_the_rating_and_subjects_exiftool_reads(ref):
    facts = xmp.read_facts((XMP_CORPUS / ref["SourceFile"]).read_bytes())
    assert facts.rating == ref.get("XMP-xmp:Rating")
    assert list(facts.keywords) == (ref.get("XMP-dc:Subject") or [])


def test_the_corpus_is_all_there_when_present():
    require_corpus(XMP_CORPUS)
    names = {ref["SourceFile"] for ref in corpus_references()}
    assert names == {p.name for p in XMP_CORPUS.glob("*.xmp")} and len(names) == 10
    # The cases that matter are really there: a rating, escaped text, a nodeID'd list.
    assert any("&amp;" in k for ref in corpus_references() for k in ref.get("XMP-dc:Subject", []))


@pytest.mark.parametrize(
    "body",
    [
        '<rdf:Description rdf:about="" xmp:Rating="4" xmp:Label="Red"/>',
        '<rdf:Description rdf:about=""><xmp:Rating>4</xmp:Rating>'
        "<xmp:Label>Red</xmp:Label></rdf:Description>",
        # rdf:parseType="Resource" and rdf:value: a qualified simple value
        '<rdf:Description rdf:about=""><xmp:Rating rdf:parseType="Resource">'
        '<rdf:value>4</rdf:value></xmp:Rating><xmp:Label rdf:value="Red"/></rdf:Description>',
        # two Description blocks, each with part of it
        '<rdf:Description rdf:about="" xmp:Rating="4"/>'
        '<rdf:Description rdf:about=""><xmp:Label>Red</xmp:Label></rdf:Description>',
    ],
    ids=["attributes", "elements", "resource-value", "several-descriptions"],
)
def test_rating_and_label_in_every_rdf_form(body):
    for wrapped in (True, False):  # x:xmpmeta with xpacket, or a bare rdf:RDF
        facts = xmp.read_facts(packet(body, wrapper=wrapped))
        assert (facts.rating, facts.label) == (4, "Red")


def test_keywords_description_and_node_references():
    body = (
        '<rdf:Bag rdf:nodeID="k"><rdf:li>sea &amp; sky</rdf:li><rdf:li>boat</rdf:li></rdf:Bag>'
        '<rdf:Description rdf:about=""><dc:subject rdf:nodeID="k"/>'
        '<dc:description><rdf:Alt><rdf:li xml:lang="fr">Un bateau</rdf:li>'
        '<rdf:li xml:lang="x-default">A boat</rdf:li></rdf:Alt></dc:description>'
        "<xmp:Rating>-1</xmp:Rating></rdf:Description>"
    )
    facts = xmp.read_facts(packet(body))
    assert facts.keywords == ("sea & sky", "boat")
    assert facts.description == "A boat"
    assert facts.rating == -1  # rejected, as Lightroom and digiKam write it


def test_out_of_range_rating_and_blank_values_are_none():
    facts = xmp.read_facts(packet('<rdf:Description rdf:about="" xmp:Rating="9" xmp:Label=" "/>'))
    assert (facts.rating, facts.label, facts.keywords) == (None, None, ())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<x:xmpmeta", "not well-formed"),
        (b"<a><b/></a>", "no rdf:RDF"),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<r>&b;</r>",
            "DOCTYPE",
        ),
    ],
    ids=["cut-short", "not-rdf", "entity-bomb"],
)
def test_broken_xmp_is_an_xmp_error_saying_why(data, message):
    with pytest.raises(xmp.XmpError, match=message):
        xmp.read_facts(data)


def jpeg_with_xmp(path: Path, xml: str) -> Path:
    write_photo(path)
    with Image.open(path) as image:
        image.load()
        image.save(path, "JPEG", xmp=xml.encode())  # APP1 "http://ns.adobe.com/xap/1.0/"
    return path


def png_with_xmp(path: Path, xml: str) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xml)  # the iTXt chunk XMP's spec names, before IDAT
    photo().save(path, "PNG", pnginfo=info)
    return path


def read(path: Path):
    return MetadataPhase().analyze(str(path), "photo")


def test_embedded_xmp_in_jpeg_and_png_made_here(tmp_path):
    xml = packet(
        '<rdf:Description rdf:about="" xmp:Rating="5">' + subject("a", "b") + "</rdf:Description>"
    )
    for path in (jpeg_with_xmp(tmp_path / "e.jpg", xml), png_with_xmp(tmp_path / "e.png", xml)):
        outcome = read(path)
        assert outcome.error is None
        record = outcome.record
        assert (record["rating"], record["keywords"], record["xmp_source"]) == (
            5,
            ["a", "b"],
            "embedded",
        )
        assert record["width"] == 64  # the rest of the record is read as before


def test_no_xmp_gives_empty_fields(tmp_path):
    record = read(write_photo(tmp_path / "plain.jpg")).record
    assert [record[f] for f in ("rating", "label", "keywords", "description", "xmp_source")] == [
        None
    ] * 5


def test_sidecar_precedence_ext_first_then_base_and_over_embedded(tmp_path):
    picture = jpeg_with_xmp(
        tmp_path / "p.jpg",
        packet(
            '<rdf:Description rdf:about="" xmp:Rating="1" xmp:Label="Blue">'
            + subject("inside")
            + "</rdf:Description>"
        ),
    )
    (tmp_path / "p.xmp").write_text(
        packet('<rdf:Description rdf:about="">' + subject("base") + "</rdf:Description>")
    )
    record = read(picture).record
    assert (record["keywords"], record["xmp_source"]) == (["base"], "sidecar")
    (tmp_path / "p.jpg.xmp").write_text(
        packet(
            '<rdf:Description rdf:about="" xmp:Rating="3">' + subject("ext") + "</rdf:Description>"
        )
    )
    record = read(picture).record
    assert (record["keywords"], record["rating"], record["xmp_source"]) == (["ext"], 3, "sidecar")
    # What the sidecar does not say, the photo's own packet does (a keywords-only sidecar
    # written by `xmp write` must not hide the rating given in the camera or the editor).
    assert record["label"] == "Blue"
    assert sidecars.candidate_names(str(picture))[0] == str(picture) + ".xmp"


def test_broken_sidecar_is_a_warning_and_the_rest_is_kept(tmp_path):
    picture = jpeg_with_xmp(
        tmp_path / "b.jpg", packet('<rdf:Description rdf:about="" xmp:Rating="2"/>')
    )
    (tmp_path / "b.jpg.xmp").write_text("<x:xmpmeta><rdf:RDF>")
    outcome = read(picture)
    assert str(tmp_path / "b.jpg.xmp") in outcome.error and "could not be read" in outcome.error
    assert outcome.record["rating"] == 2 and outcome.record["xmp_source"] == "embedded"
    assert outcome.record["width"] == 64


def test_broken_embedded_xmp_keeps_the_exif(tmp_path):
    picture = jpeg_with_xmp(tmp_path / "c.jpg", "<x:xmpmeta><rdf:RDF>")
    outcome = read(picture)
    assert outcome.error.startswith("embedded XMP could not be read")
    assert outcome.record["width"] == 64 and outcome.record["rating"] is None


def statuses(db: Path) -> dict[tuple[str, str], int]:
    """(file name, phase) -> the run that last produced the phase's result."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT f.path, s.phase, s.run_id FROM phase_status s JOIN files f ON f.id = s.file_id"
        ).fetchall()
    return {(os.path.basename(p), phase): run for p, phase, run in rows}


def test_rescan_reads_a_photo_again_when_its_sidecar_appears_changes_or_goes(cli, tmp_path):
    library = tmp_path / "lib"
    write_photo(library / "one.jpg", seed=1)
    write_photo(library / "two.jpg", seed=2)
    db = tmp_path / "c.db"

    def run() -> dict:
        cli("run", str(library), "--db", str(db), "--phases", "metadata,content")
        return cli.export(db)

    rows = run()
    assert rows[str(library / "one.jpg")]["keywords"] is None
    assert len(rows) == 2  # sidecars are never files of the catalog
    sidecar = library / "one.jpg.xmp"
    steps = [
        (
            "appears",
            lambda: sidecar.write_text(
                packet('<rdf:Description rdf:about="">' + subject("kw1") + "</rdf:Description>")
            ),
            ["kw1"],
        ),
        (
            "changes",
            lambda: sidecar.write_text(
                packet(
                    '<rdf:Description rdf:about="">' + subject("kw2", "x") + "</rdf:Description>"
                )
            ),
            ["kw2", "x"],
        ),
        ("goes", sidecar.unlink, None),
    ]
    for run_number, (what, change, expected) in enumerate(steps, start=2):
        change()
        rows = run()
        assert rows[str(library / "one.jpg")]["keywords"] == expected, what
        assert len(rows) == 2
        seen = statuses(db)
        assert seen[("one.jpg", "metadata")] == run_number, what  # read again
        assert seen[("one.jpg", "content")] == 1, what  # the pixels did not change
        assert seen[("two.jpg", "metadata")] == 1, what  # the neighbour was not touched


def test_a_photo_given_as_a_root_sees_its_sidecar_too(cli, tmp_path):
    picture = write_photo(tmp_path / "solo.jpg")
    db = tmp_path / "c.db"
    cli("run", str(picture), "--db", str(db), "--phases", "metadata")
    (tmp_path / "solo.xmp").write_text(packet('<rdf:Description rdf:about="" xmp:Rating="4"/>'))
    cli("run", str(picture), "--db", str(db), "--phases", "metadata")
    assert cli.export(db)[str(picture)]["rating"] == 4


def test_search_filters_by_rating_and_keyword(cli, tmp_path):
    library = tmp_path / "lib"
    for name, rating, keywords in (
        ("r1.jpg", 1, ("Dog",)),
        ("r4.jpg", 4, ("cat", "dog")),
        ("r0.jpg", None, ()),
    ):
        write_photo(library / name)
        attr = f' xmp:Rating="{rating}"' if rating is not None else ""
        (library / f"{name}.xmp").write_text(
            packet(
                f'<rdf:Description rdf:about=""{attr}>' + subject(*keywords) + "</rdf:Description>"
            )
        )
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata")

    def found(*options: str) -> set[str]:
        out = cli("search", "--db", str(db), "-f", "--top", "0", *options).stdout
        return {os.path.basename(line) for line in out.splitlines()}

    assert found("--rating-min", "2") == {"r4.jpg"}
    assert found("--rating-min", "0") == {"r1.jpg", "r4.jpg"}
    assert found("--keyword", "DOG") == {"r1.jpg", "r4.jpg"}
    assert found("--keyword", "cat", "--rating-min", "1") == {"r4.jpg"}
    refused = cli("search", "--db", str(db), "--rating-min", "6", check=False)
    assert refused.returncode == 2 and "--rating-min" in refused.stderr


@pytest.mark.parametrize("fmt", ["TIFF", "WEBP", "HEIF"])
def test_embedded_xmp_in_tiff_webp_and_heif_written_by_exiftool(tmp_path, fmt):
    """exiftool writes the packet where each format keeps it (TIFF tag 700, WebP's XMP chunk,
    HEIF's mime item); the metadata phase reads it from what Pillow's header parse found."""
    exiftool = require_binary("exiftool")
    if fmt == "HEIF":
        pillow_heif = require_module("pillow_heif")
        pillow_heif.register_heif_opener()
    path = tmp_path / f"e.{fmt.lower()}"
    photo().save(path, fmt)
    subprocess.run(
        [
            exiftool,
            "-q",
            "-overwrite_original",
            "-XMP-xmp:Rating=4",
            "-XMP-dc:Subject=sea",
            str(path),
        ],
        check=True,
    )
    record = read(path).record
    assert (record["rating"], record["keywords"], record["xmp_source"]) == (4, ["sea"], "embedded")


def test_extended_xmp_over_several_app1_segments_is_read_as_exiftool_reads_it(tmp_path):
    """exiftool moves a long description out of the main packet into extended XMP, two
    more APP1 segments; Pillow's `xmp` is the main packet alone."""
    exiftool = require_binary("exiftool")
    path = write_photo(tmp_path / "long.jpg")
    args = tmp_path / "long.args"
    description = " ".join(f"word{i}" for i in range(12000))  # 100 KB
    args.write_text(f"-XMP-dc:Description={description}\n-XMP-dc:Subject=kept\n")
    subprocess.run([exiftool, "-q", "-m", "-overwrite_original", "-@", str(args), str(path)])
    with Image.open(path) as image:  # the premise: the description is not in the main packet
        assert b"word11999" not in image.info["xmp"]
        assert sum(data.startswith(SIGNATURE) for _, data in image.applist) == 2
    seen = subprocess.run(
        [exiftool, "-j", "-XMP-dc:Description", str(path)], capture_output=True, check=True
    )
    outcome = read(path)
    assert outcome.error is None
    assert outcome.record["description"] == json.loads(seen.stdout)[0]["Description"]
    assert outcome.record["description"] == description
    assert outcome.record["keywords"] == ["kept"]  # from the main packet
    # A program that dropped the parts but kept the main packet: the loss is said.
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(_without_extension_parts(path.read_bytes()))
    outcome = read(stripped)
    assert outcome.record["keywords"] == ["kept"] and outcome.record["description"] is None
    assert outcome.error == "extended XMP named by the packet is not in the file"


def _without_extension_parts(jpeg: bytes) -> bytes:
    """The JPEG without its extended XMP segments (the markers before the scan walked)."""
    kept, pos = [jpeg[:2]], 2
    while jpeg[pos + 1] != 0xDA:  # up to the start of scan
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        segment = jpeg[pos : pos + 2 + length]
        if not segment[4:].startswith(SIGNATURE):
            kept.append(segment)
        pos += 2 + length
    return b"".join(kept) + jpeg[pos:]


def _extended_parts(packet: bytes, digest: str, size: int) -> list[bytes]:
    """`packet` cut into extension segments of `size` bytes, as a JPEG holds them."""
    return [
        SIGNATURE + digest.encode() + struct.pack(">II", len(packet), offset)
        + packet[offset : offset + size]
        for offset in range(0, len(packet), size)
    ]  # fmt: skip


def test_extended_xmp_parts_are_checked_before_use():
    extended = packet('<rdf:Description rdf:about="" xmp:Label="far"/>').encode()
    digest = hashlib.md5(extended).hexdigest().upper()
    main = packet(
        f'<rdf:Description rdf:about="" xmlns:xmpNote="{XMP_NOTE}"'
        f' xmpNote:HasExtendedXMP="{digest}"/>'
    )
    parts = _extended_parts(extended, digest, 100)
    assert extended_packet(main, parts[::-1]) == (extended, None)  # in any order
    assert extended_packet(main, parts[:-1]).problem.startswith("extended XMP is incomplete")
    other = _extended_parts(extended, "0" * 32, 100)
    assert extended_packet(main, other).problem.endswith("is not in the file")
    tampered = [*parts[:-1], parts[-1][:-1] + b"!"]
    assert "does not match the digest" in extended_packet(main, tampered).problem
    lying = [parts[0][: len(SIGNATURE) + 32] + struct.pack(">II", 2**31, 0) + extended]
    assert extended_packet(main, lying).problem == (
        f"extended XMP of {2**31} bytes (over {xmp.MAX_PACKET_BYTES}): not read"
    )
    assert extended_packet(packet(""), parts) == (None, None)  # no extended XMP named


LATIN1_SIDECAR = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    ' xmp:Label="Grün"><dc:description><rdf:Alt><rdf:li xml:lang="x-default">Un café à Zürich'
    "</rdf:li></rdf:Alt></dc:description>" + subject("café", "Größe") + "</rdf:Description>"
    "</rdf:RDF></x:xmpmeta>\n"
)


@pytest.mark.parametrize(
    ("encoding", "codec"),
    [
        ("ISO-8859-1", "latin-1"),
        ("windows-1252", "cp1252"),
        ("UTF-16", "utf-16"),  # with a byte-order mark, as Python writes it
        ("UTF-16BE", "utf-16-be"),  # without one: told by the zero bytes
        ("UTF-8", "utf-8-sig"),
    ],
)
def test_a_sidecar_in_its_declared_encoding_is_read_by_the_metadata_phase(
    tmp_path, encoding, codec
):
    """Read as every XML reader reads it: in the encoding it declares (an ISO-8859-1 sidecar
    was refused as not well-formed, its é not being UTF-8)."""
    picture = write_photo(tmp_path / "p.jpg")
    text = LATIN1_SIDECAR.replace("ISO-8859-1", encoding)
    (tmp_path / "p.jpg.xmp").write_bytes(text.encode(codec))
    outcome = read(picture)
    assert outcome.error is None
    record = outcome.record
    assert (record["label"], record["keywords"], record["description"]) == (
        "Grün",
        ["café", "Größe"],
        "Un café à Zürich",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0" encoding="no-such-code"?><x/>', "not known"),
        (b'<?xml version="1.0" encoding="base64"?><x/>', "not known"),  # a Python codec
        (b'<?xml version="1.0" encoding="unicode_escape"?><x/>', "not known"),
        (b'<?xml version="1.0" encoding="undefined"?><x/>', "not known"),
        (b'<?xml version="1.0" encoding="UTF-16"?><x/>', "not written in it"),
        (b"<x>caf\xe9</x>", "not well-formed"),  # undeclared: UTF-8, which it is not
    ],
    ids=["unknown", "base64", "escape", "undefined", "wide-declared-narrow", "latin1-undeclared"],
)
def test_an_encoding_that_cannot_be_read_is_an_xmp_error_saying_why(data, message):
    with pytest.raises(xmp.XmpError, match=message):
        xmp.read_facts(data)
