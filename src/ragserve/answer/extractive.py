"""The offline answerer: the retrieved sentences that best match the question, each cited.

No model, no network: sentences are scored by the question words they contain, weighted by how rare
each word is among the candidate sentences (IDF), plus a small bonus for sentences from better-ranked
hits. Honest by construction: every word of the answer is a quoted source sentence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from ragserve.answer.conversation import condense_heuristic
from ragserve.answer.text import analysed, sentences, terms
from ragserve.core.types import DEFAULT_SAMPLING, Hit, Sampling, Turn, Usage

NO_ANSWER = "I could not find anything about that in the indexed documents."


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

    def fit(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn], sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[list[Hit], list[Turn]]:
        """No model window: everything fits."""
        return list(hits), list(history)

    async def condense(self, question: str, history: Sequence[Turn]) -> tuple[str, Usage]:
        """The heuristic rewrite (no model)."""
        return condense_heuristic(question, history), Usage()

    def prompt(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> None:
        """No model, no prompt."""
        return None

    async def generate(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[str, Usage]:
        """The quoted sentences, each followed by its [n]."""
        return " ".join(self.parts(question, hits)), Usage()

    async def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> ListStream:
        """The same answer, one quoted sentence per delta."""
        parts = self.parts(question, hits)
        return ListStream([p if i == 0 else " " + p for i, p in enumerate(parts)])

    def parts(self, question: str, hits: Sequence[Hit]) -> list[str]:
        """Pick, order and cite the best sentences: one ``"sentence [n]"`` string each."""
        if not hits:
            return [NO_ANSWER]
        wanted = set(terms(question))
        candidates: list[tuple[int, int, int, frozenset[str]]] = []  # (hit index, start, end, terms)
        for index, hit in enumerate(hits):
            candidates.extend((index, lo, hi, ts) for lo, hi, ts in analysed(hit.chunk.text))
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
        return [f"{hits[index].chunk.text[lo:hi]} [{index + 1}]" for index, lo, hi in chosen]


class ListStream:
    """An ``AnswerStream`` over text that is already written."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts
        self.usage: Usage | None = Usage()

    async def __aiter__(self) -> AsyncIterator[str]:
        for part in self.parts:
            yield part

    async def aclose(self) -> None:
        """Nothing to release."""
