"""Exact in-memory vector store: the reference for congruence tests and the store of unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragserve.backends.stores.fields import chunk_fields
from ragserve.core.errors import CollectionNotFound
from ragserve.core.protocols import Vectors
from ragserve.core.types import Chunk, Hit, MetadataFilter


class _Space:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.chunks: dict[str, Chunk] = {}
        self.vectors: dict[str, np.ndarray] = {}


class MemoryStore:
    """Brute-force cosine search over dicts; not persistent."""

    def __init__(self) -> None:
        self._spaces: dict[str, _Space] = {}

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    def _space(self, name: str) -> _Space:
        try:
            return self._spaces[name]
        except KeyError:
            raise CollectionNotFound(f"collection {name!r} does not exist") from None

    async def create_collection(self, name: str, dimension: int) -> None:
        """Create if absent."""
        self._spaces.setdefault(name, _Space(dimension))

    async def drop_collection(self, name: str) -> None:
        """Remove if present."""
        self._spaces.pop(name, None)

    async def list_collections(self) -> list[str]:
        """All names."""
        return sorted(self._spaces)

    async def upsert(self, collection: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace."""
        space = self._space(collection)
        for chunk, vector in zip(chunks, vectors, strict=True):
            space.chunks[chunk.id] = chunk
            space.vectors[chunk.id] = np.asarray(vector, dtype=np.float32)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete; absent ids are ignored."""
        space = self._space(collection)
        for cid in ids:
            space.chunks.pop(cid, None)
            space.vectors.pop(cid, None)

    async def get(self, collection: str, ids: Sequence[str]) -> list[Chunk]:
        """Existing chunks among ``ids``."""
        space = self._space(collection)
        return [space.chunks[c] for c in ids if c in space.chunks]

    async def all_ids(self, collection: str) -> set[str]:
        """Every id."""
        return set(self._space(collection).chunks)

    async def get_vectors(self, collection: str, ids: Sequence[str]) -> tuple[list[Chunk], Vectors]:
        """Existing chunks among ``ids`` and their vectors."""
        space = self._space(collection)
        found = [c for c in ids if c in space.chunks]
        matrix = np.stack([space.vectors[c] for c in found]) if found else np.zeros((0, space.dimension), np.float32)
        return [space.chunks[c] for c in found], matrix

    async def count(self, collection: str) -> int:
        """Number of chunks."""
        return len(self._space(collection).chunks)

    async def search_ids(
        self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None
    ) -> list[list[tuple[str, float]]]:
        """Ids and scores of ``search``."""
        return [[(h.chunk.id, h.score) for h in hits] for hits in await self.search(collection, vectors, k, where)]

    async def search(self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None) -> list[list[Hit]]:
        """Exact cosine similarity (vectors are normalised, so a dot product)."""
        space = self._space(collection)
        ids = [cid for cid, c in space.chunks.items() if where is None or where.matches(chunk_fields(c))]
        if not ids:
            return [[] for _ in range(len(vectors))]
        matrix = np.stack([space.vectors[c] for c in ids])
        scores = np.atleast_2d(vectors) @ matrix.T
        out = []
        for row in scores:
            top = np.argsort(-row, kind="stable")[:k]
            out.append([Hit(space.chunks[ids[i]], float(row[i])) for i in top])
        return out
