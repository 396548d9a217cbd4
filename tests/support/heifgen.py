"""HEIC test files that pillow-heif's encoder cannot write itself: it writes grids, nclx and
10-bit, but no transformative properties. `with_properties` rebuilds a pillow-heif file with
extra properties (irot, imir, clap) on its primary item, shifting the item locations past
the grown meta box, so libheif (the reference) and the fast path read the same file."""

from __future__ import annotations

import struct

from photoanalyzer.formats.bmff import iter_boxes, primary_item


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def irot(degrees: int) -> bytes:
    return box(b"irot", bytes([degrees // 90]))


def imir(axis: int) -> bytes:
    return box(b"imir", bytes([axis]))


def clap(width: int, height: int, dx: int = 0, dy: int = 0) -> bytes:
    """A clean aperture of width x height, its centre dx, dy pixels off the picture's."""
    return box(b"clap", struct.pack(">IIIIiIiI", width, 1, height, 1, dx, 1, dy, 1))


def with_properties(data: bytes, properties: list[bytes]) -> bytes:
    top = list(iter_boxes(data))
    kinds = [kind for kind, _ in top]
    if kinds.index(b"meta") > kinds.index(b"mdat"):
        raise ValueError("expects meta before mdat, as libheif writes")
    out, delta = [], 0
    for kind, body in top:
        if kind == b"meta":
            new_meta = box(b"meta", _meta_with(body, properties, 0))
            delta = len(new_meta) - (len(body) + 8)
            new_meta = box(b"meta", _meta_with(body, properties, delta))
            out.append(new_meta)
        else:
            out.append(box(kind, body))
    return b"".join(out)


def with_grid_cut(data: bytes, grid: tuple[int, int, int, int], size: tuple[int, int]) -> bytes:
    """The same file with its grid's output size (and the grid item's ispe) cut from what the
    tiles cover to `size`: the tiles then overhang it with picture, not the encoder's padding.
    `grid`: (rows, columns, width, height) as pillow-heif wrote it (16-bit ImageGrid)."""
    rows, columns, width, height = grid
    out = _replace_once(
        data,
        bytes([0, 0, rows - 1, columns - 1]) + struct.pack(">HH", width, height),
        bytes([0, 0, rows - 1, columns - 1]) + struct.pack(">HH", *size),
    )
    ispe = b"ispe\0\0\0\0"
    return _replace_once(
        out, ispe + struct.pack(">II", width, height), ispe + struct.pack(">II", *size)
    )


def _replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    if data.count(old) != 1:
        raise ValueError(f"expected {old!r} once, found it {data.count(old)} times")
    return data.replace(old, new)


def hvcc_corrupted(data: bytes) -> bytes:
    """The same file with the first three bytes of every hvcC zeroed: libheif reads only its
    NAL arrays, FFmpeg takes such extradata for Annex B and finds no parameter sets."""
    out = bytearray(data)
    start = 0
    while (found := out.find(b"hvcC", start)) >= 0:
        out[found + 4 : found + 7] = b"\0\0\0"
        start = found + 4
    return bytes(out)


def _meta_with(meta: bytes, properties: list[bytes], delta: int) -> bytes:
    head, children = meta[:4], list(iter_boxes(meta[4:]))
    primary = primary_item(dict(children)[b"pitm"])
    rebuilt = []
    for kind, body in children:
        if kind == b"iprp":
            body = _iprp_with(body, properties, primary)
        elif kind == b"iloc":
            body = _iloc_shifted(body, delta)
        rebuilt.append(box(kind, body))
    return head + b"".join(rebuilt)


def _iprp_with(iprp: bytes, properties: list[bytes], primary: int) -> bytes:
    parts = []
    boxes = list(iter_boxes(iprp))
    count = sum(1 for _ in iter_boxes(dict(boxes)[b"ipco"]))
    for kind, body in boxes:
        if kind == b"ipco":
            body = body + b"".join(properties)
        elif kind == b"ipma":
            body = _ipma_with(body, primary, list(range(count + 1, count + 1 + len(properties))))
        parts.append(box(kind, body))
    return b"".join(parts)


def _ipma_with(ipma: bytes, item: int, indexes: list[int]) -> bytes:
    version, flags = ipma[0], int.from_bytes(ipma[1:4], "big")
    if version != 0 or flags & 1:
        raise ValueError("expects ipma version 0 with 7-bit indexes, as libheif writes")
    (count,) = struct.unpack_from(">I", ipma, 4)
    out, pos = bytearray(ipma[:8]), 8
    for _ in range(count):
        (entry,) = struct.unpack_from(">H", ipma, pos)
        n = ipma[pos + 2]
        associations = ipma[pos + 3 : pos + 3 + n]
        pos += 3 + n
        if entry == item:
            associations += bytes(0x80 | i for i in indexes)  # essential, as HEIF requires
        out += struct.pack(">HB", entry, len(associations)) + associations
    return bytes(out)


def _iloc_shifted(iloc: bytes, delta: int) -> bytes:
    version = iloc[0]
    offset_size, length_size, base_size = iloc[4] >> 4, iloc[4] & 0xF, iloc[5] >> 4
    index_size = iloc[5] & 0xF if version in (1, 2) else 0
    id_size = 4 if version == 2 else 2
    out, pos = bytearray(iloc[:6]), 6
    count = int.from_bytes(iloc[pos : pos + id_size], "big")
    out += iloc[pos : pos + id_size]
    pos += id_size
    for _ in range(count):
        fixed = id_size + (2 if version in (1, 2) else 0)
        method = (
            int.from_bytes(iloc[pos + fixed - 2 : pos + fixed], "big") & 0xF if fixed > 2 else 0
        )
        out += iloc[pos : pos + fixed + 2]  # item id, construction method, data reference
        pos += fixed + 2
        base = int.from_bytes(iloc[pos : pos + base_size], "big")
        shift = delta if method == 0 else 0
        if base_size:
            out += (base + shift).to_bytes(base_size, "big")
            shift = 0
        pos += base_size
        extents = int.from_bytes(iloc[pos : pos + 2], "big")
        out += iloc[pos : pos + 2]
        pos += 2
        for _ in range(extents):
            out += iloc[pos : pos + index_size]
            pos += index_size
            offset = int.from_bytes(iloc[pos : pos + offset_size], "big")
            out += (offset + shift).to_bytes(offset_size, "big")
            pos += offset_size
            out += iloc[pos : pos + length_size]
            pos += length_size
    return bytes(out)
