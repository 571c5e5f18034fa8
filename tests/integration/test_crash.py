"""SIGKILL an ingesting process at random points; after a restart and a sync the indexes must agree.

Invariants, checked against the stores themselves: no orphan chunks (in a store but not in the
catalog), no missing chunks (in the catalog but not in a store), no unfinished intents, and the
collection mirrors the folder. The fake embedder keeps each run short so the kills land in every phase:
start-up, parsing, store writes, catalog commits and deletes. Real Chroma and tantivy.
"""

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragserve.pipeline import build_rag
from ragserve.settings import Settings

pytestmark = pytest.mark.integration
KILLS = int(os.environ.get("RAGSERVE_CRASH_KILLS", "10"))


def mutate(docs: Path, rng: random.Random, round_: int) -> None:
    """Edit 60 files, delete 2, add 2."""
    for path in rng.sample(sorted(docs.iterdir()), 60):
        path.write_text(path.read_text() + f"\n\nEdit {round_}: a paragraph about quotas and limits.\n")
    for path in rng.sample(sorted(docs.iterdir()), 2):
        path.unlink()
    for i in range(2):
        (docs / f"added-{round_}-{i}.md").write_text(f"# Added {round_} {i}\n\nNew page about endpoints, round {round_}.\n")


def sync(data: Path, docs: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSERVE_")}
    env |= {"RAGSERVE_DATA_DIR": str(data), "RAGSERVE_EMBEDDER__KIND": "fake"}
    args = [sys.executable, "-m", "ragserve.cli", "sync", str(docs)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def test_sigkill_at_random_points_converges(tmp_path: Path, shared_data: Path) -> None:
    rng = random.Random(20261121)
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    for page in sorted((shared_data / "sagemaker-developer-guide/doc_source").glob("*.md"))[:150]:
        shutil.copy(page, docs / page.name)
    started = time.monotonic()
    assert sync(data, docs).wait(timeout=600) == 0  # a first full sync: how long a run takes here
    full = time.monotonic() - started
    killed = rounds = 0
    while killed < KILLS and rounds < 4 * KILLS:
        rounds += 1
        mutate(docs, rng, rounds)
        proc = sync(data, docs)
        time.sleep(rng.uniform(0.05, 1.0) * full)  # anywhere from start-up to the last writes
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    assert killed == KILLS, f"only {killed} of {rounds} runs were killed mid-way"
    final = sync(data, docs, stderr=subprocess.PIPE)
    _, err = final.communicate(timeout=600)
    assert final.returncode == 0, err.decode()[-2000:]

    async def check() -> None:
        rag = build_rag(Settings.load(data_dir=data, embedder={"kind": "fake"}))
        await rag.start()
        catalog = rag.catalog.all_chunk_ids("default")
        stored = await rag.store.all_ids("default")
        assert rag.keyword is not None
        keyword = await rag.keyword.all_ids("default")
        assert not stored - catalog, f"{len(stored - catalog)} orphan chunks in the vector store"
        assert not catalog - stored, f"{len(catalog - stored)} catalogued chunks missing from the vector store"
        assert keyword == catalog, "the keyword index disagrees with the catalog"
        assert rag.catalog.intents() == []
        records = rag.catalog.documents("default")
        assert {r.source for r in records} == {p.name for p in docs.iterdir()}
        assert all(r.status == "indexed" and r.chunk_count == len(rag.catalog.chunk_ids(r.id)) for r in records)
        await rag.close()

    asyncio.run(check())
