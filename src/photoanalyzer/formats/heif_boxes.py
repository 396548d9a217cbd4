"""The item structure of a HEIF/HEIC file, read from its `meta` box: the primary item, how its
picture is laid out (a `grid` of HEVC tiles or one coded image), where each tile's bytes lie
(`iloc`), the decoder configuration (`hvcC`) and the properties that change the picture
(`ispe`, `clap`, `irot`, `imir`, `colr` nclx, `pixi`), and the auxiliary images (alpha, HDR
gain maps) that the fast path leaves to pillow-heif.

Built on filetypes' box reader (the one that finds `irot` for the metadata phase); this module
reads the rest of ISO/IEC 23008-12's item boxes. It reads, never decodes."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from photoanalyzer.formats.bounded import BeyondFile, read_at
from photoanalyzer.formats.filetypes import (
    find_top_level_box,
    iter_boxes,
    iter_boxes_grouped,
    primary_item,
    property_associations,
)

# auxC types of an alpha plane (HEIF's and HEVC's spellings).
_ALPHA_AUX = ("urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", "urn:mpeg:hevc:2015:auxid:1")
_MAX_TILE_BYTES = 64 * 1024 * 1024


class HeifStructureError(ValueError):
    """The container cannot be read as HEIF items (cut short, inconsistent, unsupported)."""


@dataclass(frozen=True)
class Nclx:
    primaries: int
    transfer: int
    matrix: int
    full_range: bool


@dataclass(frozen=True)
class Transform:
    """One transformative property, in the order the file lists them (which is the order
    they apply): ("clap", (left, top, width, height)), ("irot", degrees anticlockwise) or
    ("imir", axis: 0 vertical axis = left-right flip, 1 horizontal axis = top-bottom flip)."""

    kind: str
    value: object


@dataclass(frozen=True)
class Item:
    item_id: int
    item_type: str  # "hvc1", "grid", "av01", "Exif", "mime", "tmap" ...
    properties: dict[str, bytes]  # first property of each kind associated with the item
    transforms: tuple[Transform, ...]
    extents: tuple[tuple[int, int, int], ...]  # (construction method, offset, length)


@dataclass
class HeifLayout:
    """What the fast path needs to decode the primary picture."""

    primary: Item
    tiles: list[Item]  # the grid's tiles in row-major order, or [primary] without a grid
    rows: int
    columns: int
    output_size: tuple[int, int]  # the grid's (or the image's ispe) width and height
    auxiliary: list[str] = field(default_factory=list)  # auxC types of the primary's aux images
    has_gain_map: bool = False  # a tone-map (tmap) item derived from the primary

    @property
    def is_grid(self) -> bool:
        return self.primary.item_type == "grid"


def read_layout(fh: BinaryIO) -> HeifLayout:
    """The primary picture's layout; HeifStructureError when the boxes do not allow one."""
    try:
        return _read_layout(fh)
    except (struct.error, IndexError, KeyError, ValueError) as exc:
        if isinstance(exc, HeifStructureError):
            raise
        raise HeifStructureError(f"HEIF boxes cut short or inconsistent ({exc})") from exc


def item_bytes(fh: BinaryIO, item: Item, idat: bytes) -> bytes:
    """An item's payload: its extents, read from the file (method 0) or from `idat` (1)."""
    parts = []
    for method, offset, length in item.extents:
        if length > _MAX_TILE_BYTES:
            raise HeifStructureError(f"item {item.item_id} declares {length} bytes")
        if method == 1:
            parts.append(idat[offset : offset + length])
            if len(parts[-1]) != length:
                raise HeifStructureError(f"item {item.item_id} is cut short (idat)")
            continue
        try:  # the extent is checked against the file's size before it is read
            parts.append(read_at(fh, offset, length, f"item {item.item_id} extent"))
        except BeyondFile as exc:
            raise HeifStructureError(f"item {item.item_id} is cut short: {exc}") from exc
    return b"".join(parts)


def check_item_locations(fh: BinaryIO) -> None:
    """HeifStructureError unless the `meta` box's item locations (iloc) are consistent: the
    boxes fit their parents and every count fits its box. Run before exifread reads a HEIF:
    it walks an iloc by its counts alone, and 65535 extents of no bytes per item are a loop
    of minutes that reads nothing."""
    try:
        meta = find_top_level_box(fh, b"meta")
        iloc = dict(iter_boxes_grouped(meta[4:])).get(b"iloc") if meta else None
        if iloc:
            _item_locations(iloc[0])
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, HeifStructureError):
            raise
        raise HeifStructureError(f"HEIF boxes cut short or inconsistent ({exc})") from exc


def grid_size(payload: bytes) -> tuple[int, int, tuple[int, int]]:
    """(rows, columns, (width, height)) from a `grid` item's payload (ImageGrid)."""
    flags = payload[1]
    rows, columns = payload[2] + 1, payload[3] + 1
    fmt = ">II" if flags & 1 else ">HH"
    width, height = struct.unpack_from(fmt, payload, 4)
    return rows, columns, (width, height)


def hvcc_parameter_sets(hvcc: bytes) -> tuple[int, list[bytes]]:
    """(NAL length-prefix size, VPS/SPS/PPS/SEI NAL units) of an HEVCDecoderConfigurationRecord."""
    length_size = (hvcc[21] & 0x3) + 1
    pos, nals = 23, []
    for _ in range(hvcc[22]):
        (count,) = struct.unpack_from(">H", hvcc, pos + 1)
        pos += 3
        for _ in range(count):
            (size,) = struct.unpack_from(">H", hvcc, pos)
            nals.append(hvcc[pos + 2 : pos + 2 + size])
            pos += 2 + size
    return length_size, nals


def ispe_size(item: Item) -> tuple[int, int] | None:
    body = item.properties.get("ispe")
    return struct.unpack_from(">II", body, 4) if body and len(body) >= 12 else None


def nclx_of(item: Item) -> Nclx | None:
    body = item.properties.get("colr")
    if not body or body[:4] != b"nclx" or len(body) < 11:
        return None  # no colr, or an ICC profile (prof/rICC): the coded VUI stands
    primaries, transfer, matrix = struct.unpack_from(">HHH", body, 4)
    return Nclx(primaries, transfer, matrix, bool(body[10] & 0x80))


def bit_depth(item: Item) -> int | None:
    body = item.properties.get("pixi")
    return body[5] if body and len(body) >= 6 and body[4] else None


def _read_layout(fh: BinaryIO) -> HeifLayout:
    meta = find_top_level_box(fh, b"meta")
    if meta is None:
        raise HeifStructureError("no meta box")
    boxes = dict(iter_boxes_grouped(meta[4:]))  # meta is a full box: skip version/flags
    primary_id = primary_item(boxes.get(b"pitm", [b""])[0])
    if primary_id is None:
        raise HeifStructureError("no primary item (pitm)")
    types = _item_types(_only(boxes, b"iinf"))
    locations = _item_locations(_only(boxes, b"iloc"))
    references = _references(boxes.get(b"iref", [b""])[0])
    properties, associations = _property_table(_only(boxes, b"iprp"))

    def item(item_id: int) -> Item:
        if item_id not in types:
            raise HeifStructureError(f"item {item_id} is referenced but not listed (iinf)")
        chosen = [
            properties[i - 1] for i in associations.get(item_id, []) if 0 < i <= len(properties)
        ]
        first: dict[str, bytes] = {}
        for kind, body in chosen:
            first.setdefault(kind, body)
        transforms = tuple(t for kind, body in chosen if (t := _transform(kind, body)))
        return Item(item_id, types[item_id], first, transforms, locations.get(item_id, ()))

    primary = item(primary_id)
    derived_from = {}  # auxiliary or tone-map item -> the items it belongs to
    for kind, source, targets in references:
        if kind in ("auxl", "dimg"):
            for target in targets:
                derived_from.setdefault(kind, []).append((source, target))
    auxiliary = [
        item(source).properties.get("auxC", b"")[4:].split(b"\0")[0].decode("ascii", "replace")
        for source, target in derived_from.get("auxl", [])
        if target == primary_id
    ]
    has_gain_map = any(
        types.get(source) == "tmap" and target == primary_id
        for source, target in derived_from.get("dimg", [])
    )
    if primary.item_type == "grid":
        tile_ids = next((t for k, s, t in references if k == "dimg" and s == primary_id), None)
        if not tile_ids:
            raise HeifStructureError("grid item without tiles (iref dimg)")
        rows, columns, size = grid_size(item_bytes(fh, primary, boxes.get(b"idat", [b""])[0]))
        if rows * columns != len(tile_ids):
            raise HeifStructureError(f"grid of {rows}x{columns} lists {len(tile_ids)} tiles")
        tiles = [item(t) for t in tile_ids]
    else:
        size = ispe_size(primary) or (0, 0)
        rows = columns = 1
        tiles = [primary]
    return HeifLayout(primary, tiles, rows, columns, size, auxiliary, has_gain_map)


def is_alpha(aux_type: str) -> bool:
    return aux_type in _ALPHA_AUX


def _only(boxes: dict, kind: bytes) -> bytes:
    if kind not in boxes:
        raise HeifStructureError(f"no {kind.decode()} box")
    return boxes[kind][0]


def _item_types(iinf: bytes) -> dict[int, str]:
    version = iinf[0]
    pos = 6 if version == 0 else 8
    types = {}
    for kind, body in iter_boxes(iinf[pos:]):
        if kind != b"infe" or body[0] < 2:
            continue  # versions 0 and 1 predate item types (no images there)
        if body[0] == 2:
            (item_id,) = struct.unpack_from(">H", body, 4)
            item_type = body[8:12]
        else:
            (item_id,) = struct.unpack_from(">I", body, 4)
            item_type = body[10:14]
        types[item_id] = item_type.decode("latin-1")
    return types


def _item_locations(iloc: bytes) -> dict[int, tuple[tuple[int, int, int], ...]]:
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 0xF
    base_size, index_size = iloc[5] >> 4, (iloc[5] & 0xF) if version in (1, 2) else 0
    pos = 6
    count, pos = _uint(iloc, pos, 4 if version == 2 else 2)
    locations = {}
    for _ in range(count):
        item_id, pos = _uint(iloc, pos, 4 if version == 2 else 2)
        method = 0
        if version in (1, 2):
            value, pos = _uint(iloc, pos, 2)
            method = value & 0xF
        pos += 2  # data_reference_index: 0 = this file
        base, pos = _uint(iloc, pos, base_size)
        extent_count, pos = _uint(iloc, pos, 2)
        # The count is the file's word: its extents must be in the box (and have bytes: a
        # count of 65535 extents of no bytes each would be a loop that reads nothing).
        extent_bytes = index_size + offset_size + length_size
        if extent_count > 1 and extent_bytes == 0:
            raise HeifStructureError(f"iloc lists {extent_count} extents of no bytes")
        if pos + extent_count * extent_bytes > len(iloc):
            raise HeifStructureError(f"iloc lists {extent_count} extents its box cannot hold")
        extents = []
        for _ in range(extent_count):
            pos += index_size
            offset, pos = _uint(iloc, pos, offset_size)
            length, pos = _uint(iloc, pos, length_size)
            extents.append((method, base + offset, length))
        locations[item_id] = tuple(extents)
    return locations


def _references(iref: bytes) -> list[tuple[str, int, list[int]]]:
    if not iref:
        return []
    width = 2 if iref[0] == 0 else 4
    found = []
    for kind, body in iter_boxes(iref[4:]):
        source, pos = _uint(body, 0, width)
        count, pos = _uint(body, pos, 2)
        targets = []
        for _ in range(count):
            target, pos = _uint(body, pos, width)
            targets.append(target)
        found.append((kind.decode("latin-1"), source, targets))
    return found


def _property_table(iprp: bytes) -> tuple[list[tuple[str, bytes]], dict[int, list[int]]]:
    boxes = dict(iter_boxes_grouped(iprp))
    ipco = boxes.get(b"ipco", [b""])[0]
    properties = [(kind.decode("latin-1"), body) for kind, body in iter_boxes(ipco)]
    return properties, property_associations(boxes.get(b"ipma", []))


def _transform(kind: str, body: bytes) -> Transform | None:
    if kind == "irot":
        return Transform("irot", (body[0] & 0x3) * 90)
    if kind == "imir":
        return Transform("imir", body[0] & 0x1)
    if kind == "clap":
        return Transform("clap", struct.unpack(">IIIIiIiI", body[:32]))
    return None


def _uint(data: bytes, pos: int, size: int) -> tuple[int, int]:
    if size == 0:
        return 0, pos
    if pos + size > len(data):
        raise HeifStructureError("box cut short")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size
