"""Ingestion throughput on the SageMaker developer guide, next to the raw embedder on the same texts.

    python benchmarks/bench_ingest.py [--files N] [--runs R]

Each run, side by side on the same machine state:
1. ingestion: ``ragserve ingest`` in a child process into a fresh data directory (files/s, chunks/s,
   embedded tokens/s, peak RSS of the child);
2. the raw embedder: the same chunk texts (parsed and chunked beforehand, not timed) embedded by the
   same model and settings, with nothing else: the ceiling ingestion is compared with.
Prints each run and the medians; ``ratio`` = ingestion tokens/s ÷ raw embedder tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import GUIDE, ROOT, machine, median  # noqa: E402

from ragserve.backends.registry import build_embedder  # noqa: E402
from ragserve.ingest.chunking import ChunkingOptions, chunk_document  # noqa: E402
from ragserve.ingest.parsers import parse  # noqa: E402
from ragserve.settings import Settings  # noqa: E402


def corpus(files: int, into: Path) -> list[Path]:
    """The first ``files`` pages of the guide, copied into ``into``."""
    picked = sorted(GUIDE.glob("*.md"))[:files]
    into.mkdir(parents=True, exist_ok=True)
    for p in picked:
        shutil.copy(p, into / p.name)
    return picked


def chunk_texts(folder: Path, settings: Settings) -> tuple[list[str], int]:
    """The texts ingestion embeds, and their token count (model window applied)."""
    embedder = build_embedder(settings)
    opts = ChunkingOptions(settings.chunk.max_tokens, settings.chunk.overlap, settings.chunk.min_tokens)
    texts = []
    for path in sorted(folder.iterdir()):
        for doc in parse(path.read_bytes(), path.name):
            texts += [c.embed_text for c in chunk_document(doc, "bench", embedder.tokenizer, opts)]
    tokens = sum(min(len(s) + 2, settings.embedder.max_tokens) for s in embedder.tokenizer.token_spans(texts))
    return texts, tokens


def run_ingest(folder: Path, data_dir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``ragserve ingest`` in a child process."""
    exe = Path(sys.executable).parent / "ragserve"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([str(exe), "--data-dir", str(data_dir), "ingest", str(folder)], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


async def run_raw(texts: list[str], settings: Settings) -> float:
    """Seconds to embed ``texts`` with the embedder alone (model already loaded)."""
    embedder = build_embedder(settings)
    await embedder.start()
    await embedder.embed(texts[:64])  # warm-up
    started = time.perf_counter()
    await embedder.embed(texts)
    seconds = time.perf_counter() - started
    await embedder.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1284, help="how many guide pages (all: 1284)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "docs"
        picked = corpus(args.files, folder)
        model_cache = work / "models-warm"
        settings = Settings.load(data_dir=model_cache)
        texts, tokens = chunk_texts(folder, settings)
        asyncio.run(run_raw(texts[:8], settings))  # builds the ONNX graph once, outside the timings
        print(f"machine: {machine()}")
        print(
            f"corpus: {len(picked)} files, {len(texts)} chunks, {tokens} tokens (with [CLS]/[SEP], window {settings.embedder.max_tokens})"
        )
        rows = []
        for run in range(args.runs):
            data_dir = work / f"data{run}"
            shutil.copytree(model_cache / "models", data_dir / "models")  # the graph is built once per data dir
            ingest_s, rss = run_ingest(folder, data_dir)
            raw_s = asyncio.run(run_raw(texts, settings))
            row = {
                "ingest_s": ingest_s,
                "files_per_s": len(picked) / ingest_s,
                "chunks_per_s": len(texts) / ingest_s,
                "tokens_per_s": tokens / ingest_s,
                "raw_tokens_per_s": tokens / raw_s,
                "peak_rss_mib": rss,
            }
            row["ratio"] = row["tokens_per_s"] / row["raw_tokens_per_s"]
            rows.append(row)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
        print("median: " + ", ".join(f"{k} {median([r[k] for r in rows]):.2f}" for k in rows[0]))
    _ = ROOT


if __name__ == "__main__":
    main()
