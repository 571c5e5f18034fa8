"""Metrics against hand-computed values, fusion behaviour, and the keyword index staying consistent."""

import math
from pathlib import Path

import pytest

from ragserve.backends.embedders.fake import FakeEmbedder
from ragserve.core.types import Chunk, Hit
from ragserve.evaluation import evaluate, load_beir, mrr_at_k, ndcg_at_k, recall_at_k
from ragserve.pipeline import RAG, build_rag
from ragserve.retrieval.hybrid import fuse
from ragserve.settings import Settings


def test_ndcg_binary_by_hand() -> None:
    # one of two relevant documents, at rank 2: DCG = 1/log2(3); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["d1", "d2", "d3"], {"d2": 1, "d4": 1}, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_graded_and_cutoff() -> None:
    # gains 1 then 2: DCG = 1 + 2/log2(3); ideal order 2 then 1: 2 + 1/log2(3)
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert ndcg_at_k(["x", "a"], {"a": 1}, 1) == 0.0
    assert ndcg_at_k(["a"], {"a": 1}, 10) == 1.0


def test_recall_and_mrr_by_hand() -> None:
    ranked = [f"d{i}" for i in range(1, 21)]
    rel = {"d3": 1, "d15": 1, "missing": 1}
    assert recall_at_k(ranked, rel, 10) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, rel, 100) == pytest.approx(2 / 3)
    assert mrr_at_k(ranked, rel, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, {"d15": 1}, 10) == 0.0
    assert mrr_at_k(ranked, {"d1": 0, "d2": 1}, 10) == 0.5  # relevance 0 is not relevant


def test_evaluate_averages_over_judged_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = evaluate({"q1": ["a"], "q2": ["x", "b"]}, qrels)
    assert scores["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert scores["recall@10"] == 1.0
    assert evaluate({"q1": ["a"]}, qrels)["recall@10"] == 0.5  # a query without a run scores 0


def test_load_beir(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "title": "T", "text": "body"}\n{"_id": "2", "title": "", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "what?"}\n{"_id": "q9", "text": "unjudged"}\n')
    (tmp_path / "qrels/train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\n")
    data = load_beir(tmp_path, "train")
    assert data.corpus == {"1": ("T", "body"), "2": ("", "x")}
    assert data.queries == {"q1": "what?"} and data.qrels == {"q1": {"1": 1}}


def _hit(cid: str, score: float) -> Hit:
    return Hit(Chunk(cid, "d", "s", cid, 0, 1), score)


def test_fusion_methods() -> None:
    dense = [_hit("a", 0.9), _hit("b", 0.8), _hit("c", 0.1)]
    keyword = [_hit("c", 12.0), _hit("b", 11.0), _hit("d", 2.0)]
    assert [h.chunk.id for h in fuse(dense, keyword, 4, method="zscore", weight=1.0)][:3] == ["a", "b", "c"]
    assert [h.chunk.id for h in fuse(dense, keyword, 4, method="minmax", weight=0.0)][:2] == ["c", "b"]
    rrf = fuse(dense, keyword, 4, method="rrf")
    # c: 3rd and 1st = 1/63 + 1/61 = 0.032266; b: 2nd twice = 2/62 = 0.032258; a: 1st once = 1/61
    assert [(h.chunk.id, round(h.score, 6)) for h in rrf] == [("c", 0.032266), ("b", 0.032258), ("a", 0.016393), ("d", 0.015873)]
    assert len(fuse(dense, [], 2)) == 2 and fuse([], [], 3) == []


@pytest.fixture
async def rag(tmp_path: Path) -> RAG:
    settings = Settings.load(data_dir=tmp_path / "data", embedder={"kind": "fake"}, store={"kind": "memory"})
    pipeline = build_rag(settings)
    await pipeline.start()
    return pipeline


async def assert_consistent(rag: RAG) -> None:
    assert rag.keyword is not None
    catalog = rag.catalog.all_chunk_ids("default")
    assert await rag.store.all_ids("default") == catalog
    assert await rag.keyword.all_ids("default") == catalog


async def test_keyword_index_follows_add_replace_and_recovery(rag: RAG, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Keys\n\nRotate the KMS key every year.\n")
    (docs / "b.md").write_text("# Jobs\n\nTraining jobs write artifacts to S3.\n")
    await rag.ingestor.ingest_path(docs, "default")
    await assert_consistent(rag)
    hits = await rag.retrieve("rotate kms", "default", 3, mode="keyword")
    assert hits[0].chunk.source == "a.md"
    (docs / "a.md").write_text("# Keys\n\nKeys are managed by the security team now.\n")
    await rag.ingestor.ingest_path(docs, "default")
    await assert_consistent(rag)
    assert await rag.retrieve("rotate", "default", 3, mode="keyword") == []
    # a crash after both indexes were written but before the catalog commit is rolled back in both
    from ragserve.testing import make_chunks, vectors

    orphans = make_chunks(2, "a.md", start_at=70)
    rag.catalog.begin_replace(rag.catalog.documents("default")[0].id, "default", [c.id for c in orphans])
    await rag.store.upsert("default", orphans, vectors(2)[:, :1].repeat(FakeEmbedder().dimension, axis=1))
    assert rag.keyword is not None
    await rag.keyword.upsert("default", orphans)
    assert await rag.ingestor.recover() == 1
    await assert_consistent(rag)


async def test_modes_and_hybrid(rag: RAG, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Keys\n\nRotate the KMS key every year to keep endpoints encrypted.\n")
    (docs / "b.md").write_text("# Jobs\n\nTraining jobs write model artifacts to S3.\n")
    await rag.ingestor.ingest_path(docs, "default")
    for mode in ("dense", "keyword", "hybrid"):
        hits = await rag.retrieve("Where do training jobs write artifacts?", "default", 2, mode=mode)  # type: ignore[arg-type]
        assert hits[0].chunk.source == "b.md", mode
    filtered = await rag.retrieve("training jobs", "default", 5, mode="hybrid", where=None)
    assert {h.chunk.source for h in filtered} <= {"a.md", "b.md"}


async def test_keyword_index_is_built_for_collections_indexed_without_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Keys\n\nRotate the KMS key every year.\n")
    base = {"data_dir": tmp_path / "data", "embedder": {"kind": "fake"}}
    # indexed with the keyword index off, into a persistent Chroma
    first = build_rag(Settings.load(**base, retrieval={"keyword_index": "none"}))
    await first.start()
    await first.ingestor.ingest_path(docs, "default")
    await first.close()
    second = build_rag(Settings.load(**base))
    await second.start()  # finds no keyword index for "default" and builds it from the store
    hits = await second.retrieve("rotate kms", "default", 3, mode="keyword")
    assert [h.chunk.source for h in hits] == ["a.md"]
    await assert_consistent(second)
    await second.close()
