"""A deterministic, dependency-free embedder for unit tests of our own logic.

Hashes word unigrams into a fixed number of buckets, so texts that share words get similar vectors and
retrieval still behaves sensibly offline. Not a model: never the default for serving.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from ragserve.core.protocols import Embedder, EmbedKind, Vectors

_WORD = re.compile(r"\w+")


class WhitespaceTokenizer:
    """One token per word; good enough to bound chunk sizes in tests."""

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character span of each word."""
        return [[m.span() for m in _WORD.finditer(t)] for t in texts]


class FakeEmbedder(Embedder):
    """Hashed bag-of-words vectors, L2-normalised."""

    def __init__(self, dimension: int = 64) -> None:
        self.name = "fake"
        self.dimension = dimension
        self.calls: list[int] = []  # batch sizes, so tests can check what was (re-)embedded
        self._tokenizer = WhitespaceTokenizer()

    @property
    def tokenizer(self) -> WhitespaceTokenizer:
        """Whitespace tokenizer."""
        return self._tokenizer

    async def embed_batch(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> Vectors:
        """Hash each lower-cased word into a bucket; count; normalise."""
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: Vectors = out / np.maximum(norms, 1e-12)
        return normalised
