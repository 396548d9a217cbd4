"""Content fingerprints that recognise a file after a rename or move without reading all of
it: a hash of its size with its first and last 64 KiB. Where two files share a fingerprint,
the full-content hash decides."""

from __future__ import annotations

import hashlib
import os

EDGE = 64 * 1024
_CHUNK = 1024 * 1024


def fingerprint(path: str) -> str | None:
    """blake2b of size + first 64 KiB + last 64 KiB (32 hex digits); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            digest = hashlib.blake2b(str(size).encode() + b"\0", digest_size=16)
            digest.update(fh.read(EDGE))
            if size > EDGE:
                fh.seek(max(EDGE, size - EDGE))
                digest.update(fh.read(EDGE))
            return digest.hexdigest()
    except OSError:
        return None


def full_hash(path: str) -> str | None:
    """blake2b of the whole file (32 hex digits); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            digest = hashlib.blake2b(digest_size=16)
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
    except OSError:
        return None
