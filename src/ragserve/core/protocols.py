"""The interfaces the pipeline talks to. Every backend implements one of these.

All I/O-facing methods are async. Constructors only store settings; models and clients are opened in
``start()`` (or on first use) and released in ``close()``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragserve.core.types import DEFAULT_SAMPLING, Chunk, Document, Hit, MetadataFilter, Sampling, Turn, Usage

Vectors = npt.NDArray[np.float32]
EmbedKind = Literal["query", "passage"]


@runtime_checkable
class Parser(Protocol):
    """Turns the bytes of one file into Documents.

    ``media_types`` lists what it accepts. A file it cannot read raises ``InvalidDocument`` naming the
    file and the reason; callers go on with the other files.
    """

    media_types: tuple[str, ...]

    def parse(self, data: bytes, source: str, media_type: str) -> list[Document]:
        """Parse ``data`` (the content of ``source``)."""
        ...


@runtime_checkable
class Tokenizer(Protocol):
    """Counts and locates model tokens, so chunks fit the embedder's window."""

    def token_spans(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Character span of every token of every text (no special tokens)."""
        ...


class Embedder(ABC):
    """Embeds texts into L2-normalised float32 vectors.

    Subclasses implement ``embed_batch`` only; batching by length and the query/passage helpers are
    built on it. ``kind`` lets models that want different prefixes for queries and passages (e5-style)
    tell them apart.
    """

    name: str = "embedder"
    #: changes whenever the vectors would change; documents indexed under another fingerprint are re-embedded
    fingerprint: str = "embedder"
    dimension: int = 0
    max_tokens: int = 256
    batch_size: int = 32

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load the model (idempotent)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""

    @property
    @abstractmethod
    def tokenizer(self) -> Tokenizer:
        """The tokenizer that bounds chunk sizes for this model."""

    @abstractmethod
    async def embed_batch(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> Vectors:
        """Embed one batch of texts; returns an ``(len(texts), dimension)`` float32 matrix."""

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "passage") -> Vectors:
        """Embed any number of texts, in batches of similar length (less padding)."""
        await self.start()  # idempotent; ``dimension`` is known once the model is loaded
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            out[idx] = await self.embed_batch([texts[i] for i in idx], kind=kind)
            await asyncio.sleep(0)  # let queries interleave with a long ingestion
        return out

    async def embed_query(self, text: str) -> Vectors:
        """Embed one question; returns a 1-D vector."""
        vectors = await self.embed_batch([text], kind="query")
        return vectors[0]  # type: ignore[no-any-return]


class VectorStore(Protocol):
    """Stores chunks with their vectors, one namespace per collection.

    Contract (checked by ``ragserve.testing.VectorStoreContract`` against every store):

    - ``upsert`` with an id that exists replaces that chunk and its vector.
    - ``delete`` of ids that are absent is not an error.
    - ``search`` returns at most ``k`` hits, best first, scored by cosine similarity (higher is better),
      restricted to chunks whose metadata satisfies ``where``. An empty collection returns ``[]``.
    - Operations on a collection that does not exist raise ``CollectionNotFound``, except
      ``create_collection`` (idempotent) and ``drop_collection`` (absent is not an error).
    - Vendor errors are raised as ``BackendError`` subclasses.
    """

    async def start(self) -> None:
        """Open the client (idempotent)."""
        ...

    async def close(self) -> None:
        """Release the client."""
        ...

    async def create_collection(self, name: str, dimension: int) -> None:
        """Create the collection if it does not exist."""
        ...

    async def drop_collection(self, name: str) -> None:
        """Remove the collection and all it holds."""
        ...

    async def list_collections(self) -> list[str]:
        """Names of all collections."""
        ...

    async def upsert(self, collection: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace chunks with their vectors (one row of ``vectors`` per chunk)."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        ...

    async def get(self, collection: str, ids: Sequence[str]) -> list[Chunk]:
        """The chunks with these ids that exist, in no particular order."""
        ...

    async def all_ids(self, collection: str) -> set[str]:
        """Every chunk id in the collection (for consistency checks and repair)."""
        ...

    async def get_vectors(self, collection: str, ids: Sequence[str]) -> tuple[list[Chunk], Vectors]:
        """The chunks with these ids that exist, and their vectors (row i belongs to chunk i)."""
        ...

    async def count(self, collection: str) -> int:
        """Number of chunks in the collection."""
        ...

    async def search(self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None) -> list[list[Hit]]:
        """Nearest chunks for each row of ``vectors`` (a batch of queries)."""
        ...

    async def search_ids(
        self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None
    ) -> list[list[tuple[str, float]]]:
        """Like ``search`` but only (chunk id, score): cheap candidates for fusion."""
        ...


class KeywordIndex(Protocol):
    """BM25 over the same chunks as the vector store, kept consistent with it by the ingestor.

    Same contract as ``VectorStore`` for upsert (replace by id), delete (absent ids are fine) and
    missing collections; ``search`` takes the question's text.
    """

    async def create_collection(self, name: str) -> None:
        """Create if absent."""
        ...

    async def drop_collection(self, name: str) -> None:
        """Remove if present."""
        ...

    async def upsert(self, collection: str, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks."""
        ...

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        ...

    async def search(self, collection: str, question: str, k: int, where: MetadataFilter | None = None) -> list[Hit]:
        """The ``k`` best chunks by BM25 (higher is better)."""
        ...

    async def search_ids(self, collection: str, question: str, k: int, where: MetadataFilter | None = None) -> list[tuple[str, float]]:
        """Like ``search`` but only (chunk id, score)."""
        ...

    async def count(self, collection: str, where: MetadataFilter | None = None) -> int:
        """How many chunks match ``where`` (all chunks without it); fast, used to plan filtered searches."""
        ...

    async def filter_ids(self, collection: str, where: MetadataFilter, limit: int) -> list[str]:
        """Ids of up to ``limit`` chunks matching ``where``."""
        ...

    async def all_ids(self, collection: str) -> set[str]:
        """Every chunk id."""
        ...


class Reranker(Protocol):
    """Reorders hits for a question with a model that reads both; off by default.

    Returns at most ``k`` hits, best first, scored by the reranker.
    """

    async def rerank(self, question: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """The ``k`` best hits by the reranker's relevance score."""
        ...

    async def close(self) -> None:
        """Release clients."""
        ...


class AnswerStream(Protocol):
    """An answer being written: iterate for text deltas; ``usage`` is known once it ends."""

    @property
    def usage(self) -> Usage | None:
        """Tokens spent (None when the server did not say)."""
        ...

    def __aiter__(self) -> AsyncIterator[str]:
        """The text, piece by piece."""
        ...

    async def aclose(self) -> None:
        """Stop early and release the connection."""
        ...


class Generator(Protocol):
    """Writes the answer to a question from retrieved hits, citing them as [n] (1-based).

    The pipeline parses and checks the citations; a generator only writes text. ``stream`` raises
    connection errors when it is awaited, before any text, so a server can still answer with a status.
    """

    mode: str

    async def start(self) -> None:
        """Open clients (idempotent)."""
        ...

    async def close(self) -> None:
        """Release clients."""
        ...

    def fit(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn], sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[list[Hit], list[Turn]]:
        """The best hits and the latest turns that fit the model's context with room for the answer."""
        ...

    async def condense(self, question: str, history: Sequence[Turn]) -> tuple[str, Usage]:
        """A follow-up question rewritten to stand alone, for retrieval."""
        ...

    def prompt(self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> list[dict[str, str]] | str | None:
        """What the model would be sent (chat messages or a completion prompt); None without a model."""
        ...

    async def generate(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> tuple[str, Usage]:
        """The whole answer text."""
        ...

    async def stream(
        self, question: str, hits: Sequence[Hit], history: Sequence[Turn] = (), sampling: Sampling = DEFAULT_SAMPLING
    ) -> AnswerStream:
        """The answer as a stream of text deltas."""
        ...


__all__ = [
    "AnswerStream",
    "EmbedKind",
    "Embedder",
    "Generator",
    "KeywordIndex",
    "Parser",
    "Reranker",
    "Tokenizer",
    "VectorStore",
    "Vectors",
]
