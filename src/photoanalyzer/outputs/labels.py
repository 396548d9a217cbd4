"""Scene labels as people write them: the prompts' labels begin with an article ("a beach",
"an office"), while keywords (`xmp write`) and what a user types (`search --scene beach`)
leave it out."""

from __future__ import annotations

import re

_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)


def without_article(label: str) -> str:
    """'a beach' -> 'beach'; a label without an article as it is (stripped)."""
    return _ARTICLE.sub("", label.strip())
