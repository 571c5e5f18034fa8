"""Find the [n] markers an LLM wrote and map them to the sources they name."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragserve.core.types import Citation, Hit

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def parse_citations(text: str, hits: Sequence[Hit]) -> tuple[list[Citation], list[int]]:
    """Citations for valid markers (first occurrence each), and the invalid marker numbers."""
    citations: list[Citation] = []
    invalid: list[int] = []
    seen: set[int] = set()
    for match in _MARKER.finditer(text):
        for raw in re.split(r"[,;]", match.group(1)):
            n = int(raw)
            if not 1 <= n <= len(hits):
                invalid.append(n)
                continue
            if n in seen:
                continue
            seen.add(n)
            chunk = hits[n - 1].chunk
            citations.append(Citation(n, n - 1, chunk.id, chunk.start, chunk.end, chunk.text))
    return citations, invalid
