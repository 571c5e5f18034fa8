"""Follow-up questions made standalone, so retrieval sees what "it" refers to."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragserve.answer.text import STOPWORDS
from ragserve.core.types import Turn

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]|[A-Za-z0-9]")
#: words that point back into the conversation
ANAPHORA = frozenset(
    [
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "there",
        "he",
        "him",
        "his",
        "she",
        "her",
        "one",
        "ones",
        "same",
        "former",
        "latter",
        "above",
        "such",
    ]
)
#: a follow-up with at least this many content words and no back-reference is taken as standalone
SELF_CONTAINED = 4


def content_words(text: str) -> list[str]:
    """Words of ``text`` that are not stopwords, in order, each once (original case)."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(text):
        key = word.lower()
        if key not in STOPWORDS and key not in ANAPHORA and key not in seen:
            seen[key] = word
    return list(seen.values())


def condense_heuristic(question: str, history: Sequence[Turn]) -> str:
    """The follow-up, plus the topic words of the previous question when it leans on them.

    "How much does it cost?" after "How do I deploy a model to a SageMaker endpoint?" becomes
    "How much does it cost? (deploy model SageMaker endpoint)": enough for dense and keyword search.
    """
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous:
        return question
    words = {w.lower().strip(".,;:!?'\"") for w in question.split()}
    own = content_words(question)
    if not words & ANAPHORA and len(own) >= SELF_CONTAINED:
        return question
    have = {w.lower() for w in own}
    carry = [w for w in content_words(previous[-1]) if w.lower() not in have]
    return f"{question} ({' '.join(carry)})" if carry else question


def clean_condensed(reply: str, question: str) -> str | None:
    """The standalone question from a model's reply, or None when the reply is unusable."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE).strip().strip("\"'`").strip()
    if len(line) < 3 or len(line) > max(400, 4 * len(question)):
        return None
    return line
