from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ragserve.backends.stores.chroma import ChromaStore
from ragserve.backends.stores.memory import MemoryStore
from ragserve.testing import VectorStoreContract


class TestMemoryStore(VectorStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        s = MemoryStore()
        await s.start()
        yield s
        await s.close()


class TestEmbeddedChroma(VectorStoreContract):
    """Real embedded Chroma (PersistentClient) in a temporary folder."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[ChromaStore]:
        s = ChromaStore(path=tmp_path / "chroma")
        await s.start()
        yield s
        await s.close()

    async def test_persists_across_clients(self, tmp_path: Path) -> None:
        from ragserve.testing import make_chunks, vectors

        first = ChromaStore(path=tmp_path / "p")
        await first.create_collection("c", 16)
        await first.upsert("c", make_chunks(4), vectors(4))
        await first.close()
        second = ChromaStore(path=tmp_path / "p")
        assert await second.count("c") == 4
