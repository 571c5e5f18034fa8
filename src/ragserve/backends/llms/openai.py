"""Any OpenAI-compatible chat server: OpenAI, vLLM, llama.cpp's server, Ollama, Mistral."""

from __future__ import annotations

from typing import Any

import httpx

from ragserve.core.errors import BackendError, BackendTimeout, BackendUnavailable
from ragserve.settings import LLMSettings


class OpenAIChat:
    """``POST {base_url}/chat/completions`` with httpx; failures mapped to ragserve errors."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        if self._client is None:
            headers = {}
            if self.settings.api_key is not None:
                headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
            self._client = httpx.AsyncClient(base_url=self.settings.base_url or "", headers=headers, timeout=self.settings.timeout)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def chat(self, messages: list[dict[str, str]]) -> str:
        """One non-streamed completion."""
        await self.start()
        assert self._client is not None
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }
        url = f"{self.settings.base_url}/chat/completions"
        try:
            response = await self._client.post("/chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(
                f"the LLM at {url} did not answer within {self.settings.timeout:g} s",
                hint="raise RAGSERVE_LLM__TIMEOUT or check the LLM server's load",
            ) from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"cannot reach the LLM at {url}: {exc}",
                hint="start the LLM server or fix RAGSERVE_LLM__BASE_URL (unset it for offline extractive answers)",
            ) from exc
        if response.status_code in (401, 403):
            raise BackendError(f"the LLM at {url} refused the API key ({response.status_code})", hint="set RAGSERVE_LLM__API_KEY")
        if response.status_code == 404:
            raise BackendError(
                f"the LLM at {url} answered 404: {response.text[:200]}",
                hint="check RAGSERVE_LLM__BASE_URL (usually ends in /v1) and RAGSERVE_LLM__MODEL",
            )
        if response.status_code >= 400:
            raise BackendError(f"the LLM at {url} failed with {response.status_code}: {response.text[:200]}")
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"the LLM at {url} returned an invalid response: {response.text[:200]}") from exc
