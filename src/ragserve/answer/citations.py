"""The [n] markers of an answer: validated as they stream, then mapped to the span they cite.

``MarkerFilter`` sits between the model and the client. It holds back a ``[`` until the marker closes,
keeps the numbers that name a source, drops the others (reporting them), and so the streamed text is
exactly the final answer. ``cite`` then maps each marker to the sentence of the cited chunk that
best supports the claim in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragserve.answer.text import analysed, terms
from ragserve.core.types import Citation, Hit

_MARKER = re.compile(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\]")
_PARTIAL = re.compile(r"\[(?:\d{1,4}(?:\s*[,;]\s*\d{0,4})*\s*)?$")  # could still become a marker
_TRAILING = re.compile(r"(?:\s|\[[\d,; ]*\])+$")  # markers and spaces right before a marker


class MarkerFilter:
    """Streams text through, checking each ``[n]`` against the number of sources."""

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.invalid: list[int] = []
        self._held = ""  # an unfinished "[..." or whitespace that a dropped marker would swallow

    def _rewrite(self, match: re.Match[str]) -> str:
        numbers = _numbers(match)
        valid = [n for n in numbers if 1 <= n <= self.sources]
        self.invalid.extend(n for n in numbers if not 1 <= n <= self.sources)
        return "".join(f"[{n}]" for n in valid)

    def feed(self, delta: str) -> str:
        """The part of the text so far that is final; the rest waits for the next delta."""
        text = self._held + delta
        out: list[str] = []
        pos = 0
        for match in _MARKER.finditer(text):
            before = text[pos : match.start()]
            kept = self._rewrite(match)
            out.append(before if kept else before.rstrip(" "))
            out.append(kept)
            pos = match.end()
        rest = text[pos:]
        partial = _PARTIAL.search(rest)
        cut = partial.start() if partial else len(rest)
        # trailing spaces wait too: if a dropped marker follows, they go with it
        while cut > 0 and rest[cut - 1] == " ":
            cut -= 1
        out.append(rest[:cut])
        self._held = rest[cut:]
        return "".join(out)

    def flush(self) -> str:
        """Whatever is held at the end of the stream (an unclosed ``[`` is plain text)."""
        held, self._held = self._held, ""
        return held


def _numbers(match: re.Match[str]) -> list[int]:
    """The source numbers of one marker: ``[2, 1]`` → [2, 1]."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]


def clean(text: str, sources: int) -> tuple[str, list[int]]:
    """The whole-text version of ``MarkerFilter``: (text without invalid markers, their numbers)."""
    f = MarkerFilter(sources)
    out = f.feed(text) + f.flush()
    return out, f.invalid


def _claim(text: str, marker_start: int) -> str:
    """The claim a marker closes: the text since the previous sentence end or marker."""
    head = _TRAILING.sub("", text[:marker_start]).rstrip(".!?")
    return head[max(head.rfind(c) for c in ".!?\n]") + 1 :]


def _best_sentence(claim: str, hit: Hit) -> tuple[int, int] | None:
    """The sentence of the hit's chunk sharing the most (length-normalised) terms with the claim."""
    wanted = set(terms(claim))
    best: tuple[float, int, int] | None = None
    for lo, hi, ts in analysed(hit.chunk.text):
        overlap = len(ts & wanted)
        if not overlap:
            continue
        score = overlap / (len(ts) ** 0.5)
        if best is None or score > best[0]:
            best = (score, lo, hi)
    return (best[1], best[2]) if best else None


def cite(text: str, hits: Sequence[Hit]) -> list[Citation]:
    """A citation for every valid marker number in ``text``, in order of appearance."""
    citations: list[Citation] = []
    for match in _MARKER.finditer(text):
        claim = _claim(text, match.start())
        for n in _numbers(match):
            if not 1 <= n <= len(hits):
                continue
            chunk = hits[n - 1].chunk
            span = _best_sentence(claim, hits[n - 1])
            lo, hi = span if span else (0, len(chunk.text))
            citations.append(Citation(n, n - 1, chunk.id, chunk.start + lo, chunk.start + hi, chunk.text[lo:hi], match.start()))
    return citations
