"""Chroma: embedded (``PersistentClient`` under the data directory) or a Chroma server (``HttpClient``).

Collections are created with ``embedding_function=None``: we always pass our own vectors, and Chroma's
default embedding function would try to download a model at run time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ragserve.backends.stores.fields import chunk_fields, chunk_from_fields
from ragserve.core.errors import BackendError, BackendUnavailable, CollectionNotFound, MissingDependency
from ragserve.core.protocols import Vectors
from ragserve.core.types import Chunk, Hit, MetadataFilter

T = TypeVar("T")
PREFIX = "rs-"  # Chroma wants names of 3+ characters; ragserve allows shorter ones


def _chromadb() -> Any:
    try:
        import chromadb
    except ImportError as exc:
        raise MissingDependency("the Chroma store needs chromadb", hint="run: pip install 'ragserve[chroma]'") from exc
    return chromadb


def where_clause(where: MetadataFilter | None) -> dict[str, Any] | None:
    """Our filter in Chroma's ``where`` grammar."""
    if where is None or not where.conditions:
        return None
    parts: list[dict[str, Any]] = [
        {name: values[0]} if len(values) == 1 else {name: {"$in": list(values)}} for name, values in where.conditions
    ]
    return parts[0] if len(parts) == 1 else {"$and": parts}


class ChromaStore:
    """One Chroma collection per ragserve collection, cosine space."""

    def __init__(self, *, path: Path | None = None, url: str | None = None, hnsw_ef_search: int = 100) -> None:
        self._path = path
        self._url = url
        self._ef = hnsw_ef_search
        self._client: Any = None
        self._handles: dict[str, Any] = {}

    async def start(self) -> None:
        """Open the client (idempotent)."""
        if self._client is None:
            self._client = await asyncio.to_thread(self._connect)

    def _connect(self) -> Any:
        chromadb = _chromadb()
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        try:
            if self._url:
                from urllib.parse import urlparse

                parsed = urlparse(self._url)
                return chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1", port=parsed.port or 8000, ssl=parsed.scheme == "https", settings=settings
                )
            assert self._path is not None
            self._path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self._path), settings=settings)
        except Exception as exc:
            raise BackendUnavailable(
                f"cannot open Chroma at {self._url or self._path}: {exc}",
                hint="check RAGSERVE_STORE__URL (server) or RAGSERVE_DATA_DIR (embedded)",
            ) from exc

    async def close(self) -> None:
        """Forget the client (Chroma has no explicit close)."""
        self._client = None
        self._handles.clear()

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._client is None:
            await self.start()
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except (CollectionNotFound, BackendError):
            raise
        except Exception as exc:
            name = type(exc).__name__
            if "NotFound" in name:
                raise CollectionNotFound(str(exc)) from exc
            if "Connect" in name or isinstance(exc, ConnectionError):
                raise BackendUnavailable(f"Chroma is unreachable: {exc}", hint="check RAGSERVE_STORE__URL") from exc
            raise BackendError(f"Chroma failed: {name}: {exc}") from exc

    def _handle(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            try:
                handle = self._client.get_collection(PREFIX + name, embedding_function=None)
            except Exception as exc:
                raise CollectionNotFound(f"collection {name!r} does not exist") from exc
            self._handles[name] = handle
        return handle

    async def create_collection(self, name: str, dimension: int) -> None:
        """Create if absent (cosine space)."""

        def create() -> None:
            self._handles[name] = self._client.get_or_create_collection(
                PREFIX + name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "ef_search": self._ef}},
                metadata={"dimension": dimension},
            )

        await self._call(create)

    async def drop_collection(self, name: str) -> None:
        """Delete if present."""
        self._handles.pop(name, None)

        def drop() -> None:
            try:
                self._client.delete_collection(PREFIX + name)
            except Exception as exc:
                if "not" not in str(exc).lower():  # absent is fine
                    raise

        await self._call(drop)

    async def list_collections(self) -> list[str]:
        """Names without our prefix."""
        cols = await self._call(self._client.list_collections)
        names = [c if isinstance(c, str) else c.name for c in cols]
        return sorted(n[len(PREFIX) :] for n in names if n.startswith(PREFIX))

    async def upsert(self, collection: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Insert or replace, in batches Chroma accepts."""

        def write() -> None:
            handle = self._handle(collection)
            step = self._client.get_max_batch_size()
            for lo in range(0, len(chunks), step):
                part = chunks[lo : lo + step]
                handle.upsert(
                    ids=[c.id for c in part],
                    embeddings=vectors[lo : lo + step],
                    documents=[c.text for c in part],
                    metadatas=[chunk_fields(c) for c in part],
                )

        if chunks:
            await self._call(write)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete by id; absent ids are ignored."""
        if ids:
            await self._call(lambda: self._handle(collection).delete(ids=list(ids)))

    async def get(self, collection: str, ids: Sequence[str]) -> list[Chunk]:
        """Existing chunks among ``ids``."""
        if not ids:
            return []
        got = await self._call(lambda: self._handle(collection).get(ids=list(ids), include=["documents", "metadatas"]))
        return [chunk_from_fields(i, d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]

    async def all_ids(self, collection: str) -> set[str]:
        """Every id, read in pages."""

        def read() -> set[str]:
            handle, out, offset = self._handle(collection), set(), 0
            while True:
                page = handle.get(include=[], limit=10_000, offset=offset)["ids"]
                out.update(page)
                if len(page) < 10_000:
                    return out
                offset += len(page)

        return await self._call(read)

    async def count(self, collection: str) -> int:
        """Number of chunks."""
        return int(await self._call(lambda: self._handle(collection).count()))

    async def search(self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None) -> list[list[Hit]]:
        """Nearest chunks for each query vector; score = 1 - cosine distance."""

        def query() -> list[list[Hit]]:
            handle = self._handle(collection)
            res = handle.query(
                query_embeddings=vectors, n_results=k, where=where_clause(where), include=["documents", "metadatas", "distances"]
            )
            return [
                [
                    Hit(chunk_from_fields(i, d or "", m or {}), 1.0 - float(dist))
                    for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
                ]
                for ids, docs, metas, dists in zip(res["ids"], res["documents"], res["metadatas"], res["distances"], strict=True)
            ]

        return await self._call(query)

    async def search_ids(
        self, collection: str, vectors: Vectors, k: int, where: MetadataFilter | None = None
    ) -> list[list[tuple[str, float]]]:
        """Ids and scores only: no documents or metadata are read."""

        def query() -> list[list[tuple[str, float]]]:
            res = self._handle(collection).query(query_embeddings=vectors, n_results=k, where=where_clause(where), include=["distances"])
            return [
                [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
                for ids, dists in zip(res["ids"], res["distances"], strict=True)
            ]

        return await self._call(query)

    async def get_vectors(self, collection: str, ids: Sequence[str]) -> tuple[list[Chunk], Vectors]:
        """Existing chunks among ``ids`` and their stored vectors."""
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        got = await self._call(
            lambda: self._handle(collection).get(ids=list(dict.fromkeys(ids)), include=["documents", "metadatas", "embeddings"])
        )
        chunks = [chunk_from_fields(i, d or "", m or {}) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
        return chunks, np.asarray(got["embeddings"], dtype=np.float32)
