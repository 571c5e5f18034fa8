"""Choose the hybrid fusion by measurement, on a BEIR training split only.

    python benchmarks/tune_fusion.py ../shared/data/scifact --split train [--data-dir DIR]

Ingests the corpus like ``ragserve eval`` (reusing the collection if it is there), retrieves the dense
and BM25 candidates of every query once, then scores each fusion method and dense weight (nDCG@10 and
recall@100) without running retrieval again. Prints a table; the default in settings is the best row.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine  # noqa: E402

from ragserve.core.types import Hit  # noqa: E402
from ragserve.evaluation import beir_items, evaluate, load_beir  # noqa: E402
from ragserve.pipeline import build_rag  # noqa: E402
from ragserve.retrieval.hybrid import fuse  # noqa: E402
from ragserve.settings import Settings  # noqa: E402


def ranked_docs(hits: list[Hit], depth: int = 100) -> list[str]:
    return list(dict.fromkeys(h.chunk.source.removesuffix(".md") for h in hits))[:depth]


async def main(folder: Path, split: str, data_dir: Path, candidates: list[int]) -> None:
    data = load_beir(folder, split)
    rag = build_rag(Settings.load(data_dir=data_dir))
    await rag.start()
    name = f"eval-{folder.name}"
    items = beir_items(data)
    await rag.ingestor.ingest_items(items, name, total=len(items))
    depth = max(candidates)
    dense: dict[str, list[Hit]] = {}
    keyword: dict[str, list[Hit]] = {}
    qids = list(data.queries)
    for lo in range(0, len(qids), 16):
        batch = qids[lo : lo + 16]
        got = await asyncio.gather(*(rag.retrieve(data.queries[q], name, depth, None, "dense") for q in batch))
        dense.update(zip(batch, got, strict=True))
        for q in batch:
            keyword[q] = await rag.retrieve(data.queries[q], name, depth, None, "keyword")
    print(f"machine: {machine()}")
    print(f"{folder.name} {split}: {len(qids)} queries; chunk candidates per side: {candidates}")
    print(f"{'method':8} {'cands':>5} {'weight':>6} {'nDCG@10':>8} {'R@100':>7}")
    for name_, runs in (("dense", dense), ("keyword", keyword)):
        scores = evaluate({q: ranked_docs(h) for q, h in runs.items()}, data.qrels)
        print(f"{name_:8} {depth:5} {'':>6} {scores['ndcg@10']:8.4f} {scores['recall@100']:7.4f}")
    best = (0.0, "")
    for n in candidates:
        for method in ("rrf", "zscore", "minmax"):
            weights = [0.5] if method == "rrf" else [w / 10 for w in range(1, 10)]
            for w in weights:
                runs = {q: ranked_docs(fuse(dense[q][:n], keyword[q][:n], 150, method=method, weight=w)) for q in qids}  # type: ignore[arg-type]
                s = evaluate(runs, data.qrels)
                label = "" if method == "rrf" else f"{w:.1f}"
                print(f"{method:8} {n:5} {label:>6} {s['ndcg@10']:8.4f} {s['recall@100']:7.4f}")
                best = max(best, (s["ndcg@10"], f"{method} candidates={n} weight={label or '-'}"))
    print(f"best: {best[1]} nDCG@10 {best[0]:.4f}")
    await rag.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--candidates", type=int, nargs="+", default=[20, 50, 100])
    args = parser.parse_args()
    if args.data_dir:
        asyncio.run(main(args.folder, args.split, args.data_dir, args.candidates))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(args.folder, args.split, Path(tmp), args.candidates))
