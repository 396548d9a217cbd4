"""Reads whose size a file states about itself. A length or offset read from a file (a
preview's length, a box size, a TIFF value count) is checked against the file's size before
it is used: `fh.read(n)` allocates its n bytes up front, so a corrupt or hostile field of
4 GiB would cost 4 GiB of memory, or a MemoryError that looks like the machine's fault. The
error names what lied, so that the file's record says why it was refused.

- `read_at`: exactly `length` bytes at `offset`, or `BeyondFile` naming the field.
- `read_at_most`: up to `length` bytes, cut at the end of the file (the head of an embedded
  JPEG holds its EXIF even when the file was cut short).
- `Clamped`: a file object whose every read is cut at the end of the file and whose seeks
  stay inside it, for readers of other libraries (exifread reads an ASCII tag's byte count
  as given, and seeks to box ends it computed from sizes of 2**63)."""

from __future__ import annotations

import io
import os
from typing import BinaryIO


class BeyondFile(ValueError):
    """A length or offset read from a file points past its end: the file is corrupt (cut
    short, or a field overwritten). A ValueError, so a phase records it as the file's own,
    final, error."""


def file_size(fh: BinaryIO) -> int:
    """The size of the open file (or in-memory buffer) `fh`, its position kept."""
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        here = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(here)
        return end


def check_span(size: int, offset: int, length: int, what: str) -> None:
    """BeyondFile unless `length` bytes at `offset` lie inside a file of `size` bytes."""
    if length < 0 or offset < 0:
        raise BeyondFile(f"{what} has a negative length or offset ({length} at {offset})")
    if length > size:
        raise BeyondFile(f"{what} length {length} exceeds file size {size}")
    if offset + length > size:
        raise BeyondFile(
            f"{what} ({length} bytes at offset {offset}) runs past the end of the file"
            f" ({size} bytes)"
        )


def read_at(fh: BinaryIO, offset: int, length: int, what: str) -> bytes:
    """Exactly `length` bytes at `offset`; BeyondFile, before anything is allocated, when
    the file is not that long. `what` names the field in the error ("preview")."""
    check_span(file_size(fh), offset, length, what)
    fh.seek(offset)
    data = fh.read(length)
    if len(data) < length:  # the file shrank since its size was read
        raise BeyondFile(f"{what} is cut short: {len(data)} of {length} bytes")
    return data


def read_at_most(fh: BinaryIO, offset: int, length: int) -> bytes:
    """Up to `length` bytes at `offset`, never more than the file holds there (b"" past
    its end)."""
    available = max(0, file_size(fh) - max(offset, 0))
    fh.seek(max(offset, 0))
    return fh.read(max(0, min(length, available)))


# Reads up to this size are passed through as they are: their allocation costs nothing, and
# exifread makes about 120 reads and seeks a photo (the metadata phase's speed).
_SMALL = 64 * 1024


class Clamped:
    """`fh` with each read cut at the end of the file: `read(n)` allocates at most what is
    left, whatever n a library took from the file; seeks stay between its start and end.
    Lean on purpose (slots, the file's own bound methods): it sits under every read exifread
    makes."""

    __slots__ = ("_read", "_seek", "_size", "tell")

    def __init__(self, fh: BinaryIO):
        self._read, self._seek, self.tell = fh.read, fh.seek, fh.tell
        self._size = file_size(fh)

    def read(self, n: int | None = -1) -> bytes:
        if n is not None and 0 <= n <= _SMALL:
            return self._read(n)
        left = max(0, self._size - self.tell())
        return self._read(left if n is None or n < 0 else min(n, left))

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """As the file's seek, but a position before the start is BeyondFile, and one past
        the end is the end: reads there give nothing either way, and the operating system
        refuses an offset past what a file may have (EINVAL, an OSError with an errno, which
        would pass for the disk's fault)."""
        if whence == io.SEEK_SET and 0 <= offset <= self._size:
            return self._seek(offset)  # the common case, kept cheap
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell(), io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise BeyondFile(f"a seek to offset {target}, before the start of the file")
        return self._seek(min(target, self._size))
