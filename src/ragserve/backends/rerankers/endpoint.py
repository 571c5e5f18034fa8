"""Reranker behind an HTTP ``/rerank`` endpoint (the ``Reranker`` protocol is in ``core.protocols``).

Off by default. ``RerankEndpoint`` calls the ``POST {base_url}/rerank`` API that vLLM, Hugging Face
TEI, llama.cpp's server (``--reranking``), Jina and Cohere serve: ``{"model", "query", "documents",
"top_n"}`` → ``{"results": [{"index", "relevance_score"}]}``. No cross-encoder ships offline in a PyPI
package we can use, so there is no local implementation yet; the protocol is where one plugs in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ragserve.core.errors import BackendError, BackendTimeout, BackendUnavailable
from ragserve.core.types import Hit


class RerankEndpoint:
    """A ``/rerank`` HTTP endpoint (vLLM, TEI, llama.cpp, Jina, Cohere wire format)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def rerank(self, question: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """Send the passages, map the scores back to the hits."""
        if not hits:
            return []
        url = f"{self.base_url}/rerank"
        body = {"model": self.model, "query": question, "documents": [h.chunk.embed_text for h in hits], "top_n": min(k, len(hits))}
        try:
            response = await self._client.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"the reranker at {url} timed out", hint="raise RAGSERVE_RERANK__TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"cannot reach the reranker at {url}: {exc}", hint="fix RAGSERVE_RERANK__BASE_URL or unset it"
            ) from exc
        if response.status_code >= 400:
            raise BackendError(f"the reranker at {url} failed with {response.status_code}: {response.text[:200]}")
        try:
            results: list[dict[str, Any]] = response.json()["results"]
            scored = [(int(r["index"]), float(r.get("relevance_score", r.get("score", 0.0)))) for r in results]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"the reranker at {url} returned an invalid response: {response.text[:200]}") from exc
        scored = [(i, s) for i, s in scored if 0 <= i < len(hits)]
        scored.sort(key=lambda item: -item[1])
        return [Hit(hits[i].chunk, s) for i, s in scored[:k]]
