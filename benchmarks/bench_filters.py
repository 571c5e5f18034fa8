"""Filtered retrieval at 100k chunks: does a metadata filter collapse latency?

    python benchmarks/bench_filters.py [--chunks 100000] [--queries 200]

Builds a collection of synthetic chunks (clustered random 384-d unit vectors, texts drawn from a
vocabulary; 1,000 sources of 100 chunks, a ``lang`` field on half) in embedded Chroma and the tantivy
keyword index, through ragserve's own store classes, then times per query (median and p99 over
``--queries`` queries, one at a time): dense, keyword and hybrid fusion, each unfiltered, filtered to
one source (0.1% of chunks) and filtered on ``lang`` (50%).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, median, percentile  # noqa: E402

from ragserve.backends.keyword.tantivy import TantivyKeywordIndex  # noqa: E402
from ragserve.backends.stores.chroma import ChromaStore  # noqa: E402
from ragserve.core.types import Chunk, Hit, MetadataFilter  # noqa: E402
from ragserve.retrieval.filtered import filtered_search  # noqa: E402
from ragserve.retrieval.hybrid import fuse  # noqa: E402

DIM = 384
WORDS = [f"w{i}" for i in range(5000)]


def corpus(n: int, rng: np.random.Generator) -> tuple[list[Chunk], np.ndarray]:
    centers = rng.normal(size=(200, DIM)).astype(np.float32)
    vectors = centers[rng.integers(0, 200, n)] + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    zipf = np.minimum(rng.zipf(1.3, size=(n, 60)), len(WORDS)) - 1
    chunks = [
        Chunk(
            id=f"c{i}",
            document_id=f"d{i // 100}",
            source=f"doc{i // 100}.md",
            text=" ".join(WORDS[j] for j in zipf[i]),
            start=0,
            end=1,
            metadata={"lang": "en" if i % 2 else "fr"},
        )
        for i in range(n)
    ]
    return chunks, vectors


async def timed(fn, queries: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for i in range(queries):
        t = time.perf_counter()
        await fn(i)
        times.append((time.perf_counter() - t) * 1e3)
    return median(times), percentile(times, 99)


async def main(n: int, queries: int) -> None:
    rng = np.random.default_rng(0)
    chunks, vectors = corpus(n, rng)
    with tempfile.TemporaryDirectory() as tmp:
        store = ChromaStore(path=Path(tmp) / "chroma")
        keyword = TantivyKeywordIndex(Path(tmp) / "kw")
        await store.create_collection("bench", DIM)
        await keyword.create_collection("bench")
        t = time.perf_counter()
        for lo in range(0, n, 5000):
            await store.upsert("bench", chunks[lo : lo + 5000], vectors[lo : lo + 5000])
        build_dense = time.perf_counter() - t
        t = time.perf_counter()
        await keyword.upsert("bench", chunks)
        build_kw = time.perf_counter() - t
        print(f"machine: {machine()}")
        print(f"{n} chunks; built Chroma in {build_dense:.0f} s, tantivy in {build_kw:.1f} s; {queries} queries each, one at a time")
        qv = vectors[rng.integers(0, n, queries)] + 0.3 * rng.normal(size=(queries, DIM)).astype(np.float32)
        qv /= np.linalg.norm(qv, axis=1, keepdims=True)
        qt = [" ".join(WORDS[j] for j in np.minimum(rng.zipf(1.3, 8), len(WORDS)) - 1) for _ in range(queries)]
        filters = {
            "none": None,
            "one source (0.1%)": lambda i: MetadataFilter.parse({"source": f"doc{(i * 7) % (n // 100)}.md"}),
            "lang=en (50%)": lambda i: MetadataFilter.parse({"lang": "en"}),
        }
        print(f"{'filter':20} {'Chroma filter':>18} {'dense (planned)':>18} {'keyword':>18} {'hybrid':>18}   p50 / p99 ms")
        for label, make in filters.items():

            def where(i: int, make=make) -> MetadataFilter | None:  # type: ignore[no-untyped-def]
                return make(i) if make else None

            async def chroma_filter(i: int, where=where) -> list[Hit]:  # type: ignore[no-untyped-def]
                return (await store.search("bench", qv[i : i + 1], 10, where(i)))[0]

            async def dense(i: int, where=where) -> list[Hit]:  # type: ignore[no-untyped-def]
                w = where(i)
                if w is None:
                    return (await store.search("bench", qv[i : i + 1], 10, None))[0]
                return await filtered_search(store, keyword, "bench", qv[i], 10, w)

            async def kw(i: int, where=where) -> list[Hit]:  # type: ignore[no-untyped-def]
                return await keyword.search("bench", qt[i], 10, where(i))

            async def hybrid(i: int, where=where, dense=dense) -> list[Hit]:  # type: ignore[no-untyped-def]
                d, k = await asyncio.gather(dense(i), keyword.search("bench", qt[i], 50, where(i)))
                return fuse(d, k, 10)

            rows = [await timed(fn, queries) for fn in (chroma_filter, dense, kw, hybrid)]
            print(f"{label:20} " + " ".join(f"{p50:8.2f} / {p99:7.2f}" for p50, p99 in rows), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.chunks, args.queries))
