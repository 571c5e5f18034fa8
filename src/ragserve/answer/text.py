"""Sentences and terms of English text, shared by the offline answerer, citations and conversations."""

from __future__ import annotations

import re
from functools import lru_cache

# a sentence ends at . ! ? followed by a space or the end, or at a line break; "file.md" or "v1.2" do not end one
_SENTENCE = re.compile(r"(?:[^\n.!?]|[.!?]+(?![\s.!?]|$))+(?:[.!?]+(?=\s|$)|\n|$)")
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
def analysed(text: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Sentences of a chunk with their terms; chunks recur across questions, so this is cached."""
    return tuple((lo, hi, frozenset(terms(text[lo:hi]))) for lo, hi in sentences(text))
