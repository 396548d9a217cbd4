"""CLIP's text tokenizer without torch, for text queries answered in ONNX Runtime: open_clip's
`SimpleTokenizer` (byte-level BPE, 49,408 tokens), its vocabulary and merges saved to one
JSON file when the text tower is exported (ml/text_export.py), and its algorithm here.

Why not open_clip's own: its tokenizer module imports torch (its results are tensors), which
costs seconds. Why not Hugging Face `tokenizers`, which can hold the same BPE: loading its
file took 0.2 to 0.5 s here, against 0.05 to 0.2 s for the JSON below, on a path whose whole
budget is a second (docs/performance.md). The export checks that this tokenizer gives
open_clip's ids on its probe texts, and tests/test_text_onnx.py on 200 queries and on
unusual text (HTML entities, mojibake, control characters, scripts without spaces, the
special tokens typed as text, texts longer than the context).

The steps are open_clip's: the "lower" cleaning (ftfy, HTML entities twice, whitespace
collapsed, lower case), the split by its regex, each piece's UTF-8 bytes mapped to
printable characters, BPE merges by rank with the end-of-word mark on the last symbol, then
the start and end tokens and the truncation to the context length (a truncated text keeps
its end token, which the text tower pools)."""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FILE = "tokenizer.json"
_PLAIN = frozenset(map(chr, range(0x20, 0x7F)))


def clean_lower(text: str) -> str:
    """open_clip's "lower" cleaning (tokenizer._clean_lower). ftfy costs 0.15 s to import and
    changes nothing in printable ASCII without `&` (its ASCII fixes are HTML entities,
    terminal escapes, control characters and line breaks), so it is imported only for other
    texts."""
    if not set(text) <= _PLAIN or "&" in text:
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).lower()


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map of the 256 byte values to printable characters (as open_clip's)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


class ClipTokenizer:
    """Loads tokenizer.json; calling it gives open_clip's token ids."""

    def __init__(self, folder: Path):
        import regex  # open_clip's pattern needs \p{L}, which `re` lacks

        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
        self.context_length = int(data["context_length"])
        self._ids = dict(zip(data["vocab"], range(len(data["vocab"])), strict=True))
        self._ranks = dict(zip(data["merges"], range(len(data["merges"])), strict=True))
        specials = data["special_tokens"]
        self.sot_id, self.eot_id = self._ids[specials[0]], self._ids[specials[1]]
        self._specials = {token: token for token in specials}
        self._pattern = regex.compile(
            "|".join(map(regex.escape, specials)) + "|" + data["pattern"], regex.IGNORECASE
        )
        self._bytes = bytes_to_unicode()
        self._cache: dict[str, list[int]] = {}

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids with the start and end tokens, truncated as open_clip truncates."""
        out = []
        for text in texts:
            ids = [self.sot_id, *self._encode(text), self.eot_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.eot_id
            out.append(ids)
        return out

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """(N, L) int64, zero-padded to the longest text, not to the context length: the text
        tower's attention is causal and it pools at the end token, so positions after the
        longest end token change nothing and would only cost time."""
        rows = self.ids(texts)
        tokens = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
        for index, ids in enumerate(rows):
            tokens[index, : len(ids)] = ids
        return tokens

    def _encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self._pattern.findall(clean_lower(text)):
            if piece not in self._cache:
                if piece in self._specials:
                    self._cache[piece] = [self._ids[piece]]
                else:
                    symbols = "".join(self._bytes[b] for b in piece.encode("utf-8"))
                    self._cache[piece] = [self._ids[s] for s in self._bpe(symbols)]
            ids.extend(self._cache[piece])
        return ids

    def _bpe(self, symbols: str) -> list[str]:
        """Merges adjacent symbols, the lowest-ranked pair first, until no pair is a merge."""
        word = [*symbols[:-1], symbols[-1] + "</w>"]
        while len(word) > 1:
            pairs = {f"{a} {b}" for a, b in itertools.pairwise(word)}
            best = min(pairs, key=lambda pair: self._ranks.get(pair, len(self._ranks)))
            if best not in self._ranks:
                break
            first, second = best.split(" ")
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word


def write_tokenizer(simple_tokenizer, folder: Path) -> None:
    """tokenizer.json in `folder`, from an open_clip SimpleTokenizer: its vocabulary in id
    order, its merges in rank order, its special tokens, split pattern and context length."""
    special_ids = simple_tokenizer.all_special_ids
    pattern = simple_tokenizer.pat.pattern
    specials = [simple_tokenizer.decoder[i] for i in special_ids]
    prefix = "|".join(specials) + "|"
    if not pattern.startswith(prefix):
        raise ValueError(f"open_clip's tokenizer pattern has changed: {pattern}")
    data = {
        "context_length": int(simple_tokenizer.context_length),
        "special_tokens": specials,  # start and end of text first
        "pattern": pattern[len(prefix) :],
        "vocab": [simple_tokenizer.decoder[i] for i in range(len(simple_tokenizer.decoder))],
        "merges": [
            " ".join(pair)
            for pair in sorted(simple_tokenizer.bpe_ranks, key=simple_tokenizer.bpe_ranks.get)
        ],
    }
    (folder / FILE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
