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


Scored = tuple[str, float]  # (chunk id, score)


def _normalised(hits: Sequence[Scored], method: Fusion) -> dict[str, float]:
    if not hits:
        return {}
    scores = [score for _, score in hits]
    if method == "minmax":
        lo, hi = min(scores), max(scores)
        span = hi - lo or 1.0
        return {cid: (score - lo) / span for cid, score in hits}
    mean = statistics.fmean(scores)
    spread = statistics.pstdev(scores) or 1.0
    return {cid: (score - mean) / spread for cid, score in hits}


def fuse_ids(
    dense: Sequence[Scored], keyword: Sequence[Scored], k: int, *, method: Fusion = "zscore", weight: float = 0.5, c: int = 60
) -> list[Scored]:
    """The ``k`` best chunk ids of both lists, scored by the fusion ``method``."""
    fused: dict[str, float] = {}
    if method == "rrf":
        for hits in (dense, keyword):
            for rank, (cid, _) in enumerate(hits, start=1):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (c + rank)
    else:
        d, kw = _normalised(dense, method), _normalised(keyword, method)
        floor_d = min(d.values(), default=0.0)
        floor_k = min(kw.values(), default=0.0)
        for cid in d.keys() | kw.keys():
            # a candidate one side did not return scores as that side's worst candidate
            fused[cid] = weight * d.get(cid, floor_d) + (1.0 - weight) * kw.get(cid, floor_k)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]


def fuse(dense: Sequence[Hit], keyword: Sequence[Hit], k: int, *, method: Fusion = "zscore", weight: float = 0.5, c: int = 60) -> list[Hit]:
    """``fuse_ids`` over full hits (when both sides already carry their chunks)."""
    chunks = {h.chunk.id: h.chunk for h in (*keyword, *dense)}
    pairs = fuse_ids([(h.chunk.id, h.score) for h in dense], [(h.chunk.id, h.score) for h in keyword], k, method=method, weight=weight, c=c)
    return [Hit(chunks[cid], score) for cid, score in pairs]
