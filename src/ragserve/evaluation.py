"""Retrieval metrics (trec_eval definitions, as BEIR reports them) and BEIR-format loading."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragserve.core.errors import InvalidInput
from ragserve.core.types import Hit

Qrels = Mapping[str, Mapping[str, int]]  # query id → document id → relevance (> 0 is relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain: sum rel / log2(rank + 1), over the ideal ordering."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    wanted = {d for d, r in relevant.items() if r > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (0 if none)."""
    return next((1.0 / (i + 1) for i, doc in enumerate(ranked[:k]) if relevant.get(doc, 0) > 0), 0.0)


def evaluate(runs: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Mean nDCG@10, recall@10, recall@100 and MRR@10 over the judged queries."""
    judged = [q for q in qrels if any(r > 0 for r in qrels[q].values())]
    if not judged:
        raise InvalidInput("no judged queries", hint="the qrels file must list relevant documents")
    totals = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for q in judged:
        ranked, rel = runs.get(q, []), qrels[q]
        totals["ndcg@10"] += ndcg_at_k(ranked, rel, 10)
        totals["recall@10"] += recall_at_k(ranked, rel, 10)
        totals["recall@100"] += recall_at_k(ranked, rel, 100)
        totals["mrr@10"] += mrr_at_k(ranked, rel, 10)
    return {name: value / len(judged) for name, value in totals.items()}


@dataclass
class BeirData:
    """A BEIR folder: corpus (id → (title, text)), queries (id → text) and the qrels of one split."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_beir(folder: Path, split: str) -> BeirData:
    """Read corpus.jsonl, queries.jsonl and qrels/<split>.tsv; only judged queries are kept."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for needed in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not needed.is_file():
            raise InvalidInput(f"{needed} not found", hint="a BEIR folder has corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # header or blank line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus = {str(d["_id"]): (str(d.get("title") or ""), str(d.get("text") or "")) for d in _jsonl(folder / "corpus.jsonl")}
    queries = {str(q["_id"]): str(q["text"]) for q in _jsonl(folder / "queries.jsonl") if str(q["_id"]) in qrels}
    return BeirData(corpus, queries, {q: r for q, r in qrels.items() if q in queries})


def beir_items(data: BeirData) -> list[tuple[str, Callable[[], bytes]]]:
    """Corpus documents as ingestible markdown files named ``<id>.md`` (title as the heading)."""

    def reader(title: str, text: str) -> Callable[[], bytes]:
        return lambda: (f"# {title}\n\n{text}\n" if title else f"{text}\n").encode()

    return [(f"{doc_id}.md", reader(title, text)) for doc_id, (title, text) in data.corpus.items()]


async def run_queries(
    retrieve: Callable[[str, str], Awaitable[Sequence[Hit]]],
    queries: Mapping[str, str],
    mode: str,
    *,
    depth: int = 100,
    concurrency: int = 16,
) -> tuple[dict[str, list[str]], float]:
    """Ranked document ids per query (chunks deduplicated to their best-ranked document), and queries/s."""
    runs: dict[str, list[str]] = {}
    ids = list(queries)
    started = time.perf_counter()

    async def one(qid: str) -> None:
        hits = await retrieve(queries[qid], mode)
        ranked = dict.fromkeys(h.chunk.source.removesuffix(".md") for h in hits)
        runs[qid] = list(ranked)[:depth]

    for lo in range(0, len(ids), concurrency):
        await asyncio.gather(*(one(q) for q in ids[lo : lo + concurrency]))
    return runs, len(ids) / (time.perf_counter() - started)
