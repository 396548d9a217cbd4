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
        # A CSV cell holds one value: the errors mapping goes in as JSON text, empty when none.
        errors = row.get("errors") or {}
        writer.writerow({**row, "errors": json.dumps(errors, ensure_ascii=False) if errors else ""})
        count += 1
    return count
