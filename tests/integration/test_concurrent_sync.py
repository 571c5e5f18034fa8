"""Queries while a sync re-indexes: no errors, every source exists, never two versions of a document."""

import asyncio
import shutil
from pathlib import Path

import pytest

from ragserve.pipeline import build_rag
from ragserve.settings import Settings

pytestmark = pytest.mark.integration


async def test_queries_during_reindexing(tmp_path: Path, shared_data: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in sorted((shared_data / "sagemaker-developer-guide/doc_source").glob("e*.md"))[:60]:
        shutil.copy(page, docs / page.name)
    rag = build_rag(Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}))  # real Chroma and tantivy
    await rag.start()
    await rag.ingestor.sync_path(docs, "default")
    versions: dict[str, list[set[str]]] = {}  # source -> chunk ids of each committed version

    def record_versions() -> None:
        for d in rag.catalog.documents("default"):
            versions.setdefault(d.source, []).append(set(rag.catalog.chunk_ids(d.id)))

    record_versions()
    questions = ["How do I create an endpoint?", "What is encryption at rest?", "How do I use edge devices?", "elastic inference"]
    answers: list[dict[str, set[str]]] = []
    done = asyncio.Event()

    async def reader() -> None:
        i = 0
        while not done.is_set():
            answer = await rag.query(questions[i % len(questions)], k=8, mode=("dense", "keyword", "hybrid")[i % 3])  # type: ignore[arg-type]
            assert answer.hits, "a query found nothing while the corpus was being re-indexed"
            by_source: dict[str, set[str]] = {}
            for h in answer.hits:
                by_source.setdefault(h.chunk.source, set()).add(h.chunk.id)
            answers.append(by_source)
            i += 1

    async def writer() -> None:
        for revision in range(3):
            for page in sorted(docs.iterdir()):
                page.write_text(page.read_text().split("\n\nRevision", 1)[0] + f"\n\nRevision {revision}: edited.\n")
            await rag.ingestor.sync_path(docs, "default")
            record_versions()
        done.set()

    await asyncio.gather(writer(), *(reader() for _ in range(3)))
    assert len(answers) > 20
    for by_source in answers:
        for source, ids in by_source.items():
            assert any(ids <= version for version in versions[source]), f"{source}: chunks of two versions in one answer"
    await rag.close()
