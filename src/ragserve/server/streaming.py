"""Server-sent events: the answer loop shared by ``/v1/query`` and ``/v1/chat/completions``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from ragserve.answer.citations import MarkerFilter
from ragserve.core.errors import RagError
from ragserve.core.protocols import AnswerStream
from ragserve.core.types import Answer
from ragserve.pipeline import RAG, Prepared
from ragserve.server.errors import status_of

log = logging.getLogger(__name__)

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering of the stream


def sse(data: str | dict[str, Any], event: str | None = None) -> bytes:
    """One event; ``data`` is sent as is when it is a string (already JSON)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def error_body(exc: Exception, openai: bool = False) -> dict[str, Any]:
    """The one error shape, for an error that happens after the stream has begun (status is 200 by then);
    with ``openai`` the hint is also appended to the message, the one field OpenAI clients show."""
    if isinstance(exc, RagError):
        message = f"{exc.message} ({exc.hint})" if openai and exc.hint else exc.message
        return {"error": {"type": type(exc).__name__, "message": message, "hint": exc.hint, "status": status_of(exc)}}
    log.exception("unexpected error while streaming")
    return {"error": {"type": "InternalError", "message": "an unexpected error occurred; the server log has the details", "hint": ""}}


class AnswerLoop:
    """Runs an answer stream through the citation check; ``answer`` is set when it ends."""

    def __init__(self, rag: RAG, prepared: Prepared, stream: AnswerStream) -> None:
        self.rag = rag
        self.prepared = prepared
        self.stream = stream
        self.answer: Answer | None = None

    async def deltas(self) -> AsyncIterator[str]:
        """Checked text deltas; they add up to ``answer.text``."""
        markers = MarkerFilter(len(self.prepared.hits))
        parts: list[str] = []
        try:
            async for delta in self.stream:
                text = markers.feed(delta)
                if text:
                    parts.append(text)
                    yield text
            tail = markers.flush()
            if tail:
                parts.append(tail)
                yield tail
        finally:
            await self.stream.aclose()
        self.answer = self.rag.finish(self.prepared, "".join(parts), self.stream.usage, invalid=markers.invalid)
