"""Deleting one document from a 100k-chunk collection (embedded Chroma + tantivy + catalog).

    python benchmarks/bench_delete.py [--documents 1000] [--chunks-per-document 100] [--deletes 20]

The collection is written through the ingestor's own write path (intent protocol, both indexes), with
synthetic chunks and hashed vectors so that building 100k chunks does not wait on a model. Then single
documents are deleted through ``Ingestor.delete_document`` (chunk ids come from the catalog: no scan of
the store) and each delete is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, median, percentile  # noqa: E402

from ragserve.backends.embedders.fake import FakeEmbedder  # noqa: E402
from ragserve.core.types import Chunk  # noqa: E402
from ragserve.ingest.catalog import DocumentRecord  # noqa: E402
from ragserve.ingest.chunking import chunk_id, document_id  # noqa: E402
from ragserve.pipeline import IngestReport, _Parsed, build_rag  # noqa: E402
from ragserve.settings import Settings  # noqa: E402


def parsed(collection: str, d: int, per_doc: int, rng: random.Random) -> _Parsed:
    source = f"docs/page-{d:05d}.md"
    doc_id = document_id(collection, source)
    chunks = []
    for i in range(per_doc):
        text = " ".join(f"w{rng.randrange(5000)}" for _ in range(40))
        chunks.append(
            Chunk(
                chunk_id(collection, source, i * 300, text),
                doc_id,
                source,
                text,
                i * 300,
                i * 300 + len(text),
                f"Page {d}",
                "",
                f"Page {d}",
            )
        )
    record = DocumentRecord(doc_id, collection, source, f"hash{d}", "text/markdown", f"Page {d}", "indexed", "", per_doc, None)
    return _Parsed(record, chunks)


async def main(documents: int, per_doc: int, deletes: int) -> None:
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:  # tantivy may still be merging
        rag = build_rag(Settings.load(data_dir=Path(tmp)), embedder=FakeEmbedder(dimension=384))
        await rag.start()
        await rag.ingestor.ensure_collection("bench")
        started = time.perf_counter()
        report = IngestReport()
        for lo in range(0, documents, 50):
            await rag.ingestor._store("bench", [parsed("bench", d, per_doc, rng) for d in range(lo, min(lo + 50, documents))], report)
        built = time.perf_counter() - started
        total = await rag.store.count("bench")
        print(f"machine: {machine()}")
        print(f"{documents} documents, {total} chunks written in {built:.0f} s; deleting {deletes} documents one at a time")
        times, purges = [], []
        for d in rng.sample(range(documents), deletes):
            doc_id = document_id("bench", f"docs/page-{d:05d}.md")
            t = time.perf_counter()
            removed = await rag.ingestor.delete_document("bench", doc_id, wait=False)  # what DELETE /documents/{id} does
            times.append((time.perf_counter() - t) * 1e3)
            assert removed == per_doc
            t = time.perf_counter()
            await rag.ingestor.purge()  # the background removal from Chroma and tantivy, timed alone
            purges.append((time.perf_counter() - t) * 1e3)
        left = await rag.store.count("bench")
        assert left == total - deletes * per_doc
        assert rag.keyword is not None and await rag.keyword.count("bench") == left
        print(
            f"delete one document ({per_doc} chunks), effective for queries: p50 {median(times):.1f} ms, "
            f"p99 {percentile(times, 99):.1f} ms, max {max(times):.1f} ms"
        )
        print(
            f"background purge of its chunks from Chroma + tantivy: p50 {median(purges):.1f} ms, "
            f"p99 {percentile(purges, 99):.1f} ms, max {max(purges):.1f} ms"
        )
        await rag.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--chunks-per-document", type=int, default=100)
    parser.add_argument("--deletes", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.documents, args.chunks_per_document, args.deletes))
