"""Catalog rows -> JSON Lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

FORMATS = ("jsonl", "csv")


def write_export(rows: Iterable[dict[str, Any]], fields: list[str], fmt: str, out: TextIO) -> int:
    """Write rows in `fmt` to `out`; returns how many were written."""
    if fmt == "jsonl":
        return _write_jsonl(rows, out)
    if fmt == "csv":
        return _write_csv(rows, fields, out)
    raise ValueError(f"unknown export format {fmt!r}")


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
