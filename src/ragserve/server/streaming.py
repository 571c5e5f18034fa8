"""Server-sent events for ``/v1/query`` and ``/v1/chat/completions``."""

from __future__ import annotations

import json
import logging
from typing import Any

from ragserve.core.errors import RagError
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
