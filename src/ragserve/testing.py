"""Test helpers: contract tests for VectorStore implementations, a server-sent-events parser, and
what tests and benchmarks need to run real servers (free ports, waiting until one answers).

A store's test module subclasses ``VectorStoreContract`` and supplies one async fixture, ``store``,
that yields a started store. Requires pytest and pytest-asyncio (the ``dev`` extra).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ragserve.core.errors import CollectionNotFound
from ragserve.core.protocols import VectorStore
from ragserve.core.types import Chunk, MetadataFilter

DIM = 16


def make_chunks(n: int, source: str = "a.md", start_at: int = 0) -> list[Chunk]:
    """``n`` chunks of one document."""
    return [
        Chunk(
            id=f"{source}-{i}",
            document_id=f"doc-{source}",
            source=source,
            text=f"text {i} of {source}",
            start=i * 10,
            end=i * 10 + 9,
            title=f"Title {source}",
            location=f"H > {i}",
            context="ctx",
            metadata={"lang": "en" if i % 2 else "fr"},
        )
        for i in range(start_at, start_at + n)
    ]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    """Random unit vectors."""
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


class VectorStoreContract:
    """The behaviour every VectorStore promises (see its docstring in ``core.protocols``)."""

    async def test_upsert_count_get(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        chunks = make_chunks(5)
        await store.upsert("c1", chunks, vectors(5))
        assert await store.count("c1") == 5
        got = {c.id: c for c in await store.get("c1", ["a.md-1", "a.md-3", "absent"])}
        assert set(got) == {"a.md-1", "a.md-3"}
        assert got["a.md-1"] == chunks[1]
        assert await store.all_ids("c1") == {c.id for c in chunks}

    async def test_duplicate_ids_replace(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        chunks = make_chunks(3)
        await store.upsert("c1", chunks, vectors(3, seed=1))
        changed = [dataclasses.replace(chunks[0], text="new text")]
        await store.upsert("c1", changed, vectors(1, seed=2))
        assert await store.count("c1") == 3
        assert (await store.get("c1", [chunks[0].id]))[0].text == "new text"

    async def test_delete_absent_is_not_an_error(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        await store.upsert("c1", make_chunks(3), vectors(3))
        await store.delete("c1", ["a.md-0", "nope"])
        assert await store.all_ids("c1") == {"a.md-1", "a.md-2"}

    async def test_search_finds_the_vector_itself_first(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        vecs = vectors(20, seed=3)
        await store.upsert("c1", make_chunks(20), vecs)
        results = await store.search("c1", vecs[[4, 7]], k=3)
        assert [r[0].chunk.id for r in results] == ["a.md-4", "a.md-7"]
        assert all(len(r) == 3 for r in results)
        assert results[0][0].score == pytest.approx(1.0, abs=1e-4)
        scores = [h.score for h in results[0]]
        assert scores == sorted(scores, reverse=True)

    async def test_search_ids_agrees_with_search(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        await store.upsert("c1", make_chunks(6, "a.md") + make_chunks(6, "b.md"), vectors(12, seed=6))
        query = vectors(2, seed=7)
        where = MetadataFilter.parse({"source": "a.md"})
        full = await store.search("c1", query, k=4, where=where)
        ids = await store.search_ids("c1", query, k=4, where=where)
        assert [[h.chunk.id for h in row] for row in full] == [[cid for cid, _ in row] for row in ids]
        assert [[round(h.score, 4) for h in row] for row in full] == [[round(s, 4) for _, s in row] for row in ids]

    async def test_search_with_filter(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        await store.upsert("c1", make_chunks(6, "a.md") + make_chunks(6, "b.md"), vectors(12, seed=4))
        where = MetadataFilter.parse({"source": "b.md", "lang": ["en"]})
        hits = (await store.search("c1", vectors(1, seed=5), k=10, where=where))[0]
        assert {h.chunk.source for h in hits} == {"b.md"}
        assert {h.chunk.metadata["lang"] for h in hits} == {"en"}
        assert len(hits) == 3

    async def test_empty_collection_search(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        assert (await store.search("c1", vectors(1), k=5)) == [[]]

    async def test_missing_collection(self, store: VectorStore) -> None:
        with pytest.raises(CollectionNotFound):
            await store.count("never-created")
        await store.drop_collection("never-created")  # absent is fine

    async def test_collections_are_separate(self, store: VectorStore) -> None:
        await store.create_collection("c1", DIM)
        await store.create_collection("c2", DIM)
        await store.upsert("c1", make_chunks(2), vectors(2))
        assert await store.count("c2") == 0
        assert {"c1", "c2"} <= set(await store.list_collections())
        await store.drop_collection("c1")
        assert "c1" not in await store.list_collections()


def parse_sse(lines: Iterable[str]) -> list[tuple[str, Any]]:
    """Server-sent events as (event name, decoded JSON data); ``[DONE]`` is left out."""
    events: list[tuple[str, Any]] = []
    name = "message"
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
            if data != "[DONE]":
                events.append((name, json.loads(data)))
            name = "message"
    return events


def free_port() -> int:
    """A loopback port that nothing listens on (until someone binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 120, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200; fails (with the end of ``log``) if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        tail = log.read_text(errors="replace")[-3000:] if log else ""
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited with {proc.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready after {timeout:g} s: {tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
