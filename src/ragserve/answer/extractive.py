"""The offline answerer: the retrieved sentences that best match the question, each cited.

No model, no network: sentences are scored by the question words they contain, weighted by how rare
each word is among the candidate sentences (IDF), plus a small bonus for sentences from better-ranked
hits. Honest by construction: every word of the answer is a quoted source sentence.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from ragserve.core.types import Citation, Hit

_SENTENCE = re.compile(r"[^\n.!?]+(?:[.!?]+(?=\s|$)|\n|$)")
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "my",
        "me",
        "we",
        "our",
        "not",
        "no",
    ]
)
NO_ANSWER = "I could not find anything about that in the indexed documents."


def terms(text: str) -> list[str]:
    """Lower-cased words without stopwords, lightly stemmed (plural s)."""
    out = []
    for w in _WORD.findall(text.lower()):
        if w in STOPWORDS:
            continue
        out.append(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return out


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each real sentence: it ends with . ! ? or has at least eight words, so
    headings and short list items are not quoted as answers. List markers are left out."""
    out = []
    for m in _SENTENCE.finditer(text):
        lo, hi = m.start(), m.end()
        while lo < hi and (text[lo].isspace() or (text[lo] in "+*-" and lo + 1 < hi and text[lo + 1] == " ")):
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        words = len(text[lo:hi].split())
        if words >= 8 or (words >= 3 and text[hi - 1] in ".!?"):
            out.append((lo, hi))
    return out


@lru_cache(maxsize=8192)
def _analysed(text: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Sentences of a chunk with their terms; chunks recur across questions, so this is cached."""
    return tuple((lo, hi, frozenset(terms(text[lo:hi]))) for lo, hi in sentences(text))


class ExtractiveGenerator:
    """Answers with up to ``max_sentences`` quoted sentences, each followed by its [n]."""

    mode = "extractive"

    def __init__(self, max_sentences: int = 3, max_chars: int = 600) -> None:
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def generate(self, question: str, hits: Sequence[Hit]) -> tuple[str, list[Citation]]:
        """Pick, order and cite the best sentences."""
        if not hits:
            return NO_ANSWER, []
        wanted = set(terms(question))
        candidates: list[tuple[int, int, int, frozenset[str]]] = []  # (hit index, start, end, terms)
        for index, hit in enumerate(hits):
            candidates.extend((index, lo, hi, ts) for lo, hi, ts in _analysed(hit.chunk.text))
        df = Counter(t for *_, ts in candidates for t in ts & wanted)
        n = len(candidates) or 1
        scored = []
        for index, lo, hi, ts in candidates:
            overlap = ts & wanted
            if not overlap:
                continue
            score = sum(math.log(1 + n / df[t]) for t in overlap) / math.sqrt(max(len(ts), 4))
            scored.append((score + 0.5 / (1 + index), index, lo, hi))
        scored.sort(reverse=True)
        if not scored:  # nothing shares a word with the question: quote the best hit's opening
            first = sentences(hits[0].chunk.text)[:1] or [(0, min(len(hits[0].chunk.text), self.max_chars))]
            scored = [(0.0, 0, first[0][0], first[0][1])]
        chosen: list[tuple[int, int, int]] = []
        used = 0
        for _, index, lo, hi in scored:
            if len(chosen) >= self.max_sentences or (chosen and used + hi - lo > self.max_chars):
                break
            chosen.append((index, lo, hi))
            used += hi - lo
        chosen.sort()  # read in source order
        parts, citations = [], []
        for index, lo, hi in chosen:
            chunk = hits[index].chunk
            text = chunk.text[lo:hi]
            parts.append(f"{text} [{index + 1}]")
            citations.append(Citation(index + 1, index, chunk.id, chunk.start + lo, chunk.start + hi, text))
        return " ".join(parts), citations
