"""Fusing dense and keyword results.

Two methods, both over the union of the candidates of each side (a chunk missing from one side gets
nothing from it):

- ``rrf``: reciprocal rank fusion, ``sum(1 / (c + rank))``; ignores scores, needs no tuning.
- ``zscore`` / ``minmax``: each side's scores normalised over its candidates, then
  ``weight * dense + (1 - weight) * keyword``. Scores carry how sure each side is, which plain RRF
  throws away; the weight is tuned on a training split (see benchmarks/README.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from ragserve.core.types import Hit

Fusion = Literal["rrf", "zscore", "minmax"]


def _normalised(hits: Sequence[Hit], method: Fusion) -> dict[str, float]:
    if not hits:
        return {}
    scores = [h.score for h in hits]
    if method == "minmax":
        lo, hi = min(scores), max(scores)
        span = hi - lo or 1.0
        return {h.chunk.id: (h.score - lo) / span for h in hits}
    mean = statistics.fmean(scores)
    spread = statistics.pstdev(scores) or 1.0
    return {h.chunk.id: (h.score - mean) / spread for h in hits}


def fuse(dense: Sequence[Hit], keyword: Sequence[Hit], k: int, *, method: Fusion = "zscore", weight: float = 0.5, c: int = 60) -> list[Hit]:
    """The ``k`` best chunks of both lists, scored by the fusion ``method``."""
    chunks = {h.chunk.id: h.chunk for h in keyword}
    chunks.update({h.chunk.id: h.chunk for h in dense})
    fused: dict[str, float] = {}
    if method == "rrf":
        for hits in (dense, keyword):
            for rank, hit in enumerate(hits, start=1):
                fused[hit.chunk.id] = fused.get(hit.chunk.id, 0.0) + 1.0 / (c + rank)
    else:
        d, kw = _normalised(dense, method), _normalised(keyword, method)
        floor_d = min(d.values(), default=0.0)
        floor_k = min(kw.values(), default=0.0)
        for cid in chunks:
            # a candidate one side did not return scores as that side's worst candidate
            fused[cid] = weight * d.get(cid, floor_d) + (1.0 - weight) * kw.get(cid, floor_k)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [Hit(chunks[cid], score) for cid, score in ranked]
