"""Catalog rows -> JSON Lines or CSV. Both are UTF-8 text, so a path that is not valid UTF-8
is written readable (`path`, `pair_of`: its odd bytes as \\xNN) and, losslessly, as the hex of
its bytes in `path_bytes` / `pair_of_bytes` (null for every other path), right after it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from photoanalyzer.pathnames import bytes_hex, readable

FORMATS = ("jsonl", "csv")


def write_export(rows: Iterable[dict[str, Any]], fields: list[str], fmt: str, out: TextIO) -> int:
    """Write rows in `fmt` to `out`; returns how many were written."""
    rows = (_with_path_bytes(row) for row in rows)
    if fmt == "jsonl":
        return _write_jsonl(rows, out)
    if fmt == "csv":
        return _write_csv(rows, _with_bytes_fields(fields), out)
    raise ValueError(f"unknown export format {fmt!r}")


_PATHS = {"path": "path_bytes", "pair_of": "pair_of_bytes"}  # a path field -> its bytes field


def _with_bytes_fields(fields: list[str]) -> list[str]:
    return [f for name in fields for f in ((name, _PATHS[name]) if name in _PATHS else (name,))]


def _with_path_bytes(row: dict[str, Any]) -> dict[str, Any]:
    """The row with each path's bytes field after it, and its paths readable."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _PATHS:
            out[name] = readable(value) if value is not None else None
            out[_PATHS[name]] = bytes_hex(value) if value is not None else None
        else:
            out[name] = value
    return out


def _write_jsonl(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_csv(rows: Iterable[dict[str, Any]], fields: list[str], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        cells = {name: _csv_cell(value) for name, value in row.items()}
        cells["errors"] = cells["errors"] if row.get("errors") else ""  # empty when none
        writer.writerow(cells)
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    """A CSV cell holds one value: lists and mappings (dominant colours, scenes, objects,
    errors) go in as JSON text, which any reader parses back; csv would write a Python repr."""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False)
    return value
