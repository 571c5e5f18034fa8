"""Any OpenAI-compatible server: OpenAI, vLLM, llama.cpp's server, Ollama, Mistral.

Chat models get ``POST {base_url}/chat/completions`` with messages; plain completion models get
``POST {base_url}/completions`` with a prompt (``RAGSERVE_LLM__API=completions``). Both stream.

Failures are mapped once, here, to ragserve errors that name the setting to fix: unreachable → 503,
too slow → 504, refused key, bad model or an invalid reply → 502. Connection failures, 429 and 5xx are
retried with exponential backoff and jitter (``Retry-After`` is honoured, capped); a slow answer is
not retried, since asking a loaded server again only adds load.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from ragserve.core.errors import BackendError, BackendTimeout, BackendUnavailable
from ragserve.core.types import Usage
from ragserve.settings import LLMSettings

log = logging.getLogger(__name__)

Payload = list[dict[str, str]] | str  # chat messages, or a prompt for a completion model
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 10.0
DISCOVERY_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole reply."""

    text: str
    usage: Usage
    finish_reason: str | None = None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


class LLMStream:
    """An open streamed reply: iterate for text deltas; ``usage`` and ``finish_reason`` are set at the end."""

    def __init__(self, response: httpx.Response, chat: bool, url: str, timeout: float) -> None:
        self._response = response
        self._chat = chat
        self._url = url
        self._timeout = timeout
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for line in self._response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # comments, event names, keep-alives and the blank separators
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                delta = self._parse(data)
                if delta:
                    yield delta
        except httpx.TimeoutException as exc:
            raise BackendTimeout(
                f"the LLM at {self._url} stopped sending for {self._timeout:g} s", hint="raise RAGSERVE_LLM__TIMEOUT or check its load"
            ) from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"the LLM at {self._url} dropped the connection: {exc}", hint="check the LLM server's log") from exc
        finally:
            await self.aclose()

    def _parse(self, data: str) -> str:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise BackendError(f"the LLM at {self._url} streamed an invalid event: {data[:200]}") from exc
        if not isinstance(event, dict):
            raise BackendError(f"the LLM at {self._url} streamed an invalid event: {data[:200]}")
        if "error" in event:
            raise BackendError(f"the LLM at {self._url} failed while answering: {str(event['error'])[:300]}")
        self.usage = _usage(event.get("usage")) or self.usage
        choices = event.get("choices") or []
        if not choices:
            return ""  # the usage-only event at the end
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        text = (choice.get("delta") or {}).get("content") if self._chat else choice.get("text")
        return text if isinstance(text, str) else ""

    async def aclose(self) -> None:
        """Stop reading and release the connection (idempotent)."""
        await self._response.aclose()


class OpenAIChat:
    """An httpx client for one OpenAI-compatible server and model."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._url = settings.base_url or ""

    async def start(self) -> None:
        """Open the connection pool."""
        if self._client is None:
            headers = {}
            if self.settings.api_key is not None:
                headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
            timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
            self._client = httpx.AsyncClient(base_url=self._url, headers=headers, timeout=timeout)

    async def context_window(self) -> int | None:
        """The model's context length if the server tells (vLLM: ``max_model_len``; llama.cpp's server:
        ``meta.n_ctx_train``); None when it does not or cannot be reached. Never raises."""
        await self.start()
        assert self._client is not None
        try:
            response = await self._client.get("/models", timeout=DISCOVERY_TIMEOUT)
            models = response.json().get("data") or []
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        for entry in models:
            if not isinstance(entry, dict) or entry.get("id") != self.settings.model:
                continue
            meta = entry.get("meta")
            meta = meta if isinstance(meta, dict) else {}
            for value in (entry.get("max_model_len"), entry.get("context_length"), meta.get("n_ctx_train")):
                if isinstance(value, int) and value > 0:
                    return value
        return None

    async def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _body(self, payload: Payload, stream: bool, max_tokens: int | None, temperature: float | None) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "temperature": self.settings.temperature if temperature is None else temperature,
            "max_tokens": max_tokens or self.settings.max_tokens,
        }
        if isinstance(payload, str):
            path, body["prompt"] = "/completions", payload
        else:
            path, body["messages"] = "/chat/completions", payload
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return path, body

    async def _send(self, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        """POST with retries; returns a response with a 2xx status (its body unread when streaming)."""
        await self.start()
        assert self._client is not None
        url = f"{self._url}{path}"
        delay = self.settings.retry_backoff
        for attempt in range(self.settings.max_retries + 1):
            last = attempt == self.settings.max_retries
            retry_after: str | None = None
            try:
                response = await self._client.send(self._client.build_request("POST", path, json=body), stream=stream)
            except httpx.TimeoutException as exc:
                if not isinstance(exc, httpx.ConnectTimeout):  # it answers, slowly: asking again only adds load
                    raise BackendTimeout(
                        f"the LLM at {url} did not answer within {self.settings.timeout:g} s",
                        hint="raise RAGSERVE_LLM__TIMEOUT or check the LLM server's load",
                    ) from exc
                if last:
                    raise self._unreachable(url, exc) from exc
            except httpx.TransportError as exc:
                if last:
                    raise self._unreachable(url, exc) from exc
            else:
                if response.status_code < 400:
                    return response
                await response.aread()
                await response.aclose()
                if response.status_code not in RETRY_STATUS or last:
                    raise self._status_error(url, response)
                retry_after = response.headers.get("retry-after")
                log.info("LLM answered %s; retrying (%d/%d)", response.status_code, attempt + 1, self.settings.max_retries)
            await self._backoff(delay, retry_after)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _unreachable(url: str, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(
            f"cannot reach the LLM at {url}: {exc or type(exc).__name__}",
            hint="start the LLM server or fix RAGSERVE_LLM__BASE_URL (unset it for offline extractive answers)",
        )

    @staticmethod
    async def _backoff(delay: float, retry_after: str | None) -> None:
        try:
            wait = min(float(retry_after), MAX_RETRY_AFTER) if retry_after else delay * (0.5 + random.random())
        except ValueError:
            wait = delay
        await asyncio.sleep(wait)

    def _status_error(self, url: str, response: httpx.Response) -> BackendError:
        status, text = response.status_code, response.text[:300]
        if status in (401, 403):
            return BackendError(f"the LLM at {url} refused the API key ({status}): {text}", hint="set RAGSERVE_LLM__API_KEY")
        if status == 404:
            return BackendError(
                f"the LLM at {url} answered 404: {text}",
                hint="check RAGSERVE_LLM__BASE_URL (usually ends in /v1) and RAGSERVE_LLM__MODEL",
            )
        if status == 429:
            return BackendUnavailable(f"the LLM at {url} is rate limiting ragserve (429): {text}", hint="retry later or raise your quota")
        if status in RETRY_STATUS:
            return BackendUnavailable(f"the LLM at {url} failed with {status}: {text}", hint="check the LLM server's log")
        return BackendError(
            f"the LLM at {url} rejected the request ({status}): {text}",
            hint="check RAGSERVE_LLM__MODEL, and RAGSERVE_LLM__CONTEXT_WINDOW and __MAX_TOKENS against the model's context length",
        )

    async def complete(self, payload: Payload, *, max_tokens: int | None = None, temperature: float | None = None) -> Completion:
        """One whole reply."""
        path, body = self._body(payload, False, max_tokens, temperature)
        response = await self._send(path, body, stream=False)
        url = f"{self._url}{path}"
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if isinstance(payload, list) else choice["text"]
            if not isinstance(text, str | None):
                raise TypeError(type(text).__name__)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(
                f"the LLM at {url} returned an invalid response: {response.text[:200]}",
                hint="is RAGSERVE_LLM__BASE_URL an OpenAI-compatible API (and RAGSERVE_LLM__API right)?",
            ) from exc
        return Completion(text or "", _usage(data.get("usage")) or Usage(), choice.get("finish_reason"))

    async def stream(self, payload: Payload, *, max_tokens: int | None = None, temperature: float | None = None) -> LLMStream:
        """Open a streamed reply; connection and status errors are raised here, before any text."""
        path, body = self._body(payload, True, max_tokens, temperature)
        response = await self._send(path, body, stream=True)
        kind = response.headers.get("content-type", "")
        if "text/event-stream" not in kind:
            await response.aread()
            await response.aclose()
            raise BackendError(
                f"the LLM at {self._url}{path} did not stream (content-type {kind!r}): {response.text[:200]}",
                hint="is RAGSERVE_LLM__BASE_URL an OpenAI-compatible API?",
            )
        return LLMStream(response, isinstance(payload, list), f"{self._url}{path}", self.settings.timeout)
