"""Map ragserve errors and request validation errors to one JSON error shape with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragserve.core import errors as e

log = logging.getLogger(__name__)

STATUS: list[tuple[type[e.RagError], int]] = [  # most specific first
    (e.UnsupportedMediaType, 415),
    (e.PayloadTooLarge, 413),
    (e.InvalidInput, 422),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.BackendUnavailable, 503),
    (e.BackendTimeout, 504),
    (e.BackendError, 502),
    (e.MissingDependency, 500),
    (e.ConfigError, 500),
]


def status_of(exc: e.RagError) -> int:
    """HTTP status for an error class."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


#: routes that OpenAI clients call: they show only ``message``, so the hint is appended to it
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


def error_response(status: int, type_: str, message: str, hint: str = "", path: str = "") -> JSONResponse:
    """The one error body."""
    if hint and path.startswith(OPENAI_PATHS):
        message = f"{message} ({hint})"
    return JSONResponse({"error": {"type": type_, "message": message, "hint": hint}}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the handlers."""

    @app.exception_handler(e.RagError)
    async def rag_error(request: Request, exc: e.RagError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(status, type(exc).__name__, exc.message, exc.hint, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}" for err in exc.errors())
        return error_response(422, "InvalidInput", problems, "see the request schema at /docs", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        hint = "see the API at /docs" if exc.status_code in (404, 405) else ""
        return error_response(exc.status_code, "HTTPError", str(exc.detail), hint)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", "an unexpected error occurred; the server log has the details")
