"""Folder sync: exactly the changes are applied, and only changed or new files are embedded."""

import shutil
from pathlib import Path

from ragserve.backends.embedders.fake import FakeEmbedder
from ragserve.pipeline import build_rag
from ragserve.settings import Settings


async def test_sync_applies_exactly_the_changes(tmp_path: Path, shared_data: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in sorted((shared_data / "sagemaker-developer-guide/doc_source").glob("a*.md"))[:12]:
        shutil.copy(name, docs / name.name)
    rag = build_rag(Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}))  # real Chroma and tantivy
    await rag.start()
    first = await rag.ingestor.sync_path(docs, "default")
    assert first.indexed == 12 and not first.removed
    files = sorted(p.name for p in docs.iterdir())
    changed, deleted = files[0], files[1]
    (docs / changed).write_text((docs / changed).read_text() + "\n\nA new closing paragraph about quotas.\n")
    (docs / deleted).unlink()
    (docs / "new-page.md").write_text("# New page\n\nBrand new content about endpoints.\n")
    embedder = rag.embedder
    assert isinstance(embedder, FakeEmbedder)
    before = len(embedder.calls)
    second = await rag.ingestor.sync_path(docs, "default")
    assert (second.indexed, second.unchanged, second.removed) == (2, 10, [deleted])
    assert sum(embedder.calls[before:]) == second.chunks  # only the changed and the new file were embedded
    sources = {d.source for d in rag.catalog.documents("default")}
    assert deleted not in sources and "new-page.md" in sources and len(sources) == 12
    catalog = rag.catalog.all_chunk_ids("default")
    assert await rag.store.all_ids("default") == catalog
    assert rag.keyword is not None and await rag.keyword.all_ids("default") == catalog
    hits = await rag.retrieve("closing paragraph about quotas", "default", 3)
    assert hits[0].chunk.source == changed
    await rag.close()


async def test_drop_collection_removes_everything(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome text about keys.\n")
    rag = build_rag(Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}))
    await rag.start()
    await rag.ingestor.ingest_path(docs, "temp")
    await rag.ingestor.drop_collection("temp")
    assert rag.catalog.collections() == [] and "temp" not in await rag.store.list_collections()
    assert not (tmp_path / "data/keyword/temp").exists()
    await rag.close()


async def test_a_deleted_document_is_gone_for_queries_before_the_purge(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keys.md").write_text("# Keys\n\nRotate the KMS key every year.\n")
    (docs / "jobs.md").write_text("# Jobs\n\nTraining jobs write artifacts to S3.\n")
    rag = build_rag(Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}))
    await rag.start()
    await rag.ingestor.ingest_path(docs, "default")
    keys = next(d for d in rag.catalog.documents("default") if d.source == "keys.md")
    async with rag.ingestor._purge_lock:  # hold the background purge back while we look
        await rag.ingestor.delete_document("default", keys.id, wait=False)
        assert len(await rag.store.all_ids("default")) > len(rag.catalog.all_chunk_ids("default"))  # still in the stores
        for mode in ("dense", "keyword", "hybrid"):
            hits = await rag.retrieve("rotate the KMS key", "default", 5, mode=mode)  # type: ignore[arg-type]
            assert all(h.chunk.source != "keys.md" for h in hits), mode
    await rag.ingestor.purge()
    assert await rag.store.all_ids("default") == rag.catalog.all_chunk_ids("default") and rag.catalog.intents() == []
    await rag.close()
