"""Every plan of the filtered dense search returns what exact filtered search returns."""

from pathlib import Path

import numpy as np
import pytest

from ragserve.backends.keyword.tantivy import TantivyKeywordIndex
from ragserve.backends.stores.memory import MemoryStore
from ragserve.core.types import MetadataFilter
from ragserve.retrieval import filtered
from ragserve.testing import DIM, make_chunks, vectors


@pytest.fixture
async def indexes(tmp_path: Path) -> tuple[MemoryStore, TantivyKeywordIndex]:
    store, keyword = MemoryStore(), TantivyKeywordIndex(tmp_path / "kw")
    chunks = [c for s in range(12) for c in make_chunks(50, f"s{s}.md")]  # 600 chunks, lang alternates
    await store.create_collection("c", DIM)
    await keyword.create_collection("c")
    await store.upsert("c", chunks, vectors(len(chunks), seed=11))
    await keyword.upsert("c", chunks)
    return store, keyword


@pytest.mark.parametrize(
    ("exact_max", "raw", "plan"),
    [
        (256, {"source": "s3.md"}, "exact"),  # 50 matches
        (256, {"source": ["s1.md", "s2.md"], "lang": "en"}, "exact"),  # 50 matches
        (10, {"lang": "en"}, "broad"),  # 300 of 600
        (10, {"source": "s3.md"}, "store"),  # 50 of 600: between the two
        (256, {"source": "nope.md"}, "none"),
    ],
)
async def test_plans_agree_with_exact_search(
    indexes: tuple[MemoryStore, TantivyKeywordIndex], monkeypatch: pytest.MonkeyPatch, exact_max: int, raw: dict[str, object], plan: str
) -> None:
    store, keyword = indexes
    monkeypatch.setattr(filtered, "EXACT_MAX", exact_max)
    monkeypatch.setattr(filtered, "BROAD_MIN", 0.2)
    where = MetadataFilter.parse(raw)
    assert where is not None
    query = vectors(1, seed=12)[0]
    expected = (await store.search("c", query[None, :], 8, where))[0]
    got = await filtered.filtered_search(store, keyword, "c", query, 8, where)
    assert [h.chunk.id for h in got] == [h.chunk.id for h in expected], plan
    assert np.allclose([h.score for h in got], [h.score for h in expected], atol=1e-5)
    if plan == "none":
        assert got == []
