"""File names that are not valid UTF-8, and how each output shows them.

A POSIX file name is bytes. Python hands a name that is not valid UTF-8 (a Latin-1 "café"
from an old zip archive, a FAT or SMB disk) to us as text with each undecodable byte as a lone
surrogate (PEP 383, `os.fsdecode`), and `os.fsencode` gives the same bytes back, so the file
can be opened. Such text cannot be encoded as UTF-8: not by SQLite's driver, not by a UTF-8
terminal, not in JSON. Each output chooses here: exact bytes where a program reads them
(`--paths-only`, `--print0`), readable text where a person does (`readable`), both in
JSON (`path` readable, `path_bytes` exact), and a shell word on the report's clipboard
(`shell_word`: text that a shell reads back as the exact bytes), quoted for a command we
suggest (`shell_argument`). The catalog stores the
bytes themselves (catalog/schema.py), so nothing is lost between runs.

Imports nothing of the project: the catalog and every output use it.
"""

from __future__ import annotations

import os
import shlex
from typing import Any


def undecodable(text: str) -> bool:
    """Whether `text` holds bytes that were not valid UTF-8 (lone surrogates)."""
    if text.isascii():  # the common case, without encoding anything
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def readable(text: str) -> str:
    """`text` with each undecodable byte shown as `\\xNN` (caf\\xe9.jpg): valid text that
    names the byte, so two names that differ only there still look different. Text that
    is valid UTF-8 comes back unchanged."""
    if not undecodable(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shell_word(text: str) -> str:
    """What the report's copy button puts on the clipboard for a path: `text` itself where
    it is printable text (valid UTF-8, no control or invisible character such as a zero-width
    joiner); else a bash or zsh word in ANSI-C quotes that names the exact bytes,
    `$'caf\\xe9.jpg'`. The clipboard holds text, so a readable `\\xNN` would name another
    file, or none, when pasted into `rm` or `mv`, and a newline in a name would split it in
    two."""
    if text.isprintable():  # an undecodable byte (a lone surrogate) is not printable
        return text
    quoted = []
    for character in text:
        code = ord(character)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (PEP 383)
            quoted.append(f"\\x{code - 0xDC00:02x}")
        elif character in "\\'":
            quoted.append("\\" + character)
        elif character.isprintable():
            quoted.append(character)
        else:  # a control character: its UTF-8 bytes
            quoted.extend(f"\\x{byte:02x}" for byte in character.encode("utf-8"))
    return "$'" + "".join(quoted) + "'"


def shell_argument(text: str) -> str:
    """`text` as one argument of a command printed for the user to paste: quoted as POSIX
    shells read it (shlex), or, where it is not printable text, the ANSI-C word that names
    its exact bytes (shell_word)."""
    return shlex.quote(text) if text.isprintable() else shell_word(text)


def exact_bytes(path: str) -> bytes:
    """The name's bytes as the file system has them, for output that programs read."""
    return os.fsencode(path)


def bytes_hex(path: str) -> str | None:
    """The name's exact bytes in hex where it is not valid UTF-8 (where `readable` had to
    change it), else None: JSON's lossless companion of a readable path."""
    return exact_bytes(path).hex() if undecodable(path) else None


def readable_values(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, text, numbers) with every text made readable, keys
    included: what a JSON document shows a person (json.dumps would write an undecodable
    byte as a lone surrogate escape, which strict parsers refuse)."""
    if isinstance(value, str):
        return readable(value)
    if isinstance(value, dict):
        return {readable_values(k): readable_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable_values(v) for v in value]
    return value
