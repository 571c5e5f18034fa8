"""The pipeline's own logic with the in-package fakes (fake embedder, memory store)."""

import asyncio
from pathlib import Path

import pytest

from ragserve.answer.extractive import ExtractiveGenerator
from ragserve.backends.embedders.fake import FakeEmbedder
from ragserve.batching import Coalescer
from ragserve.core.errors import CollectionNotFound, ConfigError, EmptyQuery, InvalidInput
from ragserve.pipeline import RAG, build_rag
from ragserve.settings import Settings


@pytest.fixture
async def rag(tmp_path: Path) -> RAG:
    settings = Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}, store={"kind": "memory"})
    pipeline = build_rag(settings, generator=ExtractiveGenerator())
    await pipeline.start()
    return pipeline


def write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(folder, "keys.md", "# Keys\n\nRotate the KMS key every year to keep endpoints encrypted.\n")
    write(folder, "sub/train.md", "# Training\n\nTraining jobs write model artifacts to an S3 bucket.\n")
    write(folder, "notes.txt", "Plain notes about pricing and instance types for inference.\n")
    write(folder, "broken.pdf", "%PDF-1.4 this is not really a pdf")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n")
    write(folder, ".hidden/secret.md", "# Hidden\n\nnever indexed")
    return folder


async def test_ingest_reports_and_answers_with_relative_sources(rag: RAG, docs: Path) -> None:
    report = await rag.ingestor.ingest_path(docs, "default")
    assert (report.files, report.indexed, report.unchanged) == (4, 3, 0)
    assert [s for s, _ in report.failed] == ["broken.pdf"] and "unreadable PDF" in report.failed[0][1]
    assert report.skipped == ["image.png"]
    answer = await rag.query("Where do training jobs write model artifacts?", k=2)
    assert answer.hits[0].chunk.source == "sub/train.md"
    assert "[1]" in answer.text and answer.citations[0].chunk_id == answer.hits[0].chunk.id
    assert set(answer.timings) == {"retrieve_ms", "generate_ms", "total_ms"}


async def test_unchanged_files_are_not_reembedded_and_changed_ones_replace_their_chunks(rag: RAG, docs: Path) -> None:
    await rag.ingestor.ingest_path(docs, "default")
    embedder = rag.embedder
    assert isinstance(embedder, FakeEmbedder)
    calls = len(embedder.calls)
    again = await rag.ingestor.ingest_path(docs, "default")
    assert (again.indexed, again.unchanged) == (0, 3) and len(embedder.calls) == calls
    before = await rag.store.all_ids("default")
    write(docs, "keys.md", "# Keys\n\nKeys are now managed by the security team.\n")
    third = await rag.ingestor.ingest_path(docs, "default")
    assert (third.indexed, third.unchanged) == (1, 2)
    assert sum(embedder.calls[calls:]) == third.chunks  # only the changed file was embedded
    after = await rag.store.all_ids("default")
    assert after == rag.catalog.all_chunk_ids("default")  # store and catalog agree
    assert len(before - after) >= 1 and not rag.catalog.intents()
    hits = await rag.retrieve("KMS key every year", "default", 5)
    assert all("Rotate" not in h.chunk.text for h in hits)


async def test_recover_rolls_back_an_interrupted_write(rag: RAG, docs: Path) -> None:
    await rag.ingestor.ingest_path(docs, "default")
    # simulate a crash after the store write but before the catalog commit
    from ragserve.testing import make_chunks, vectors

    orphans = make_chunks(2, "keys.md", start_at=50)
    doc_id = rag.catalog.documents("default")[0].id
    rag.catalog.begin_replace(doc_id, "default", [c.id for c in orphans])
    await rag.store.upsert("default", orphans, vectors(2)[:, :1].repeat(64, axis=1))
    assert await rag.store.all_ids("default") != rag.catalog.all_chunk_ids("default")
    assert await rag.ingestor.recover() == 1
    assert await rag.store.all_ids("default") == rag.catalog.all_chunk_ids("default")
    assert rag.catalog.intents() == []


async def test_query_errors(rag: RAG, docs: Path) -> None:
    with pytest.raises(EmptyQuery):
        await rag.query("   ")
    with pytest.raises(CollectionNotFound) as err:
        await rag.query("hello", "nope")
    assert "ragserve ingest" in err.value.hint
    await rag.ingestor.ingest_path(docs, "default")
    with pytest.raises(InvalidInput):
        await rag.query("hello", filters={"source": {"nested": 1}})
    filtered = await rag.query("model artifacts", filters={"source": "notes.txt"})
    assert {h.chunk.source for h in filtered.hits} == {"notes.txt"}
    with pytest.raises(InvalidInput):
        await rag.ingestor.ensure_collection("bad name!")


async def test_collection_refuses_another_embedder(rag: RAG, docs: Path) -> None:
    await rag.ingestor.ingest_path(docs, "default")
    rag.ingestor.embedder = FakeEmbedder(dimension=32)
    with pytest.raises(ConfigError):
        await rag.ingestor.ensure_collection("default")


async def test_coalescer_batches_concurrent_calls() -> None:
    batches: list[list[int]] = []

    async def double(_key: str, items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [2 * i for i in items]

    co = Coalescer[str, int, int](double, max_batch=8)
    results = await asyncio.gather(*(co.submit("k", i) for i in range(20)))
    assert results == [2 * i for i in range(20)]
    assert [len(b) for b in batches] == [8, 8, 4]  # submitted together, so batched at once


async def test_coalescer_propagates_errors() -> None:
    async def fail(_key: str, items: list[int]) -> list[int]:
        raise RuntimeError("boom")

    co = Coalescer[str, int, int](fail)
    with pytest.raises(RuntimeError):
        await co.submit("k", 1)


async def test_a_pipeline_change_reindexes_unchanged_files(tmp_path: Path, docs: Path) -> None:
    def make(max_tokens: int) -> RAG:
        settings = Settings.load(
            data_dir=tmp_path / "d", embedder={"kind": "fake"}, store={"kind": "memory"}, chunk={"max_tokens": max_tokens}
        )
        return build_rag(settings, generator=ExtractiveGenerator())

    first = make(200)
    await first.start()
    assert (await first.ingestor.ingest_path(docs, "default")).indexed == 3
    second = make(100)
    second.store = second.ingestor.store = first.store  # same (in-memory) store, new chunking settings
    await second.start()
    report = await second.ingestor.ingest_path(docs, "default")
    assert (report.indexed, report.unchanged) == (3, 0)
