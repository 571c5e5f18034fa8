"""Filtered dense search that does not collapse: choose a plan from the filter's selectivity.

Chroma's own metadata filter took 90 ms (0.1% selective) to 184 ms (50%) per query at 100k chunks,
against 2.5 ms unfiltered (benchmarks/README.md). The keyword index counts a filter's matches in about a
millisecond, so the plan is picked per query:

- no match: nothing to search;
- at most ``EXACT_MAX`` matches: read their vectors and score them exactly (exact, not approximate);
- a broad filter (at least ``BROAD_MIN`` of the chunks): search unfiltered for enough extra candidates
  and keep those that match, falling back to the store's filter if too few survive;
- in between: the store's own filter.
"""

from __future__ import annotations

import math

import numpy as np

from ragserve.backends.stores.fields import chunk_fields
from ragserve.core.protocols import KeywordIndex, Vectors, VectorStore
from ragserve.core.types import Hit, MetadataFilter

EXACT_MAX = 256
BROAD_MIN = 0.05
OVERFETCH_MAX = 1000


async def filtered_search(
    store: VectorStore, keyword: KeywordIndex | None, collection: str, vector: Vectors, k: int, where: MetadataFilter
) -> list[Hit]:
    """The ``k`` nearest chunks that satisfy ``where``, by the cheapest correct plan."""
    if keyword is None:
        return (await store.search(collection, vector[None, :], k, where))[0]
    matches = await keyword.count(collection, where)
    if matches == 0:
        return []
    if matches <= EXACT_MAX:
        ids = await keyword.filter_ids(collection, where, matches)
        chunks, vectors = await store.get_vectors(collection, ids)
        if not chunks:
            return []
        scores = vectors @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return [Hit(chunks[i], float(scores[i])) for i in top]
    total = await keyword.count(collection)
    if matches / max(total, 1) >= BROAD_MIN:
        fetch = min(OVERFETCH_MAX, math.ceil(k * total / matches * 1.5) + 10)
        wide = (await store.search(collection, vector[None, :], fetch, None))[0]
        kept = [h for h in wide if where.matches(chunk_fields(h.chunk))]
        if len(kept) >= k:
            return kept[:k]
    return (await store.search(collection, vector[None, :], k, where))[0]
