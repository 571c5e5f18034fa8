"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ragserve import __version__
from ragserve.pipeline import RAG, AnswerLoop, IngestReport, build_rag
from ragserve.server import errors
from ragserve.server.deps import RagDep
from ragserve.server.jobs import JobManager
from ragserve.server.routes import corpus, ingest, openai_compat
from ragserve.server.schemas import ErrorResponse, QueryRequest, QueryResponse, UsageOut, citations_out, sources_out
from ragserve.server.streaming import HEADERS, error_body, sse
from ragserve.settings import Settings

log = logging.getLogger(__name__)
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse} for s in (404, 415, 422, 502, 503, 504)}


def create_app(
    settings: Settings,
    *,
    rag: RAG | None = None,
    docs: Path | None = None,
    docs_collection: str | None = None,
    on_progress: Callable[[str, IngestReport], None] | None = None,
) -> FastAPI:
    """Build the app. With ``docs``, that folder is ingested at start-up before requests are served."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pipeline = app.state.rag
        await pipeline.start()
        if docs is not None:
            report = await pipeline.ingestor.ingest_path(docs, docs_collection or settings.default_collection, on_progress)
            for source, reason in report.failed:
                log.warning("not indexed: %s: %s", source, reason)
        if settings.server.gc_freeze:
            # move the start-up heap (models, SDKs, settings) out of the collector's sight, so full
            # collections while serving only walk request garbage: fewer multi-millisecond pauses
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await app.state.jobs.close()
            await pipeline.close()

    app = FastAPI(
        title="ragserve",
        version=__version__,
        description="Answers questions over your documents, with the sources it used.",
        lifespan=lifespan,
    )
    app.state.rag = rag or build_rag(settings)
    errors.install(app)
    app.include_router(corpus.router, responses=ERRORS)
    app.include_router(ingest.router, responses=ERRORS)
    app.include_router(openai_compat.router, responses=ERRORS)
    app.state.jobs = JobManager()

    @app.post("/v1/query", response_model=QueryResponse, responses=ERRORS, tags=["query"])
    async def query(body: QueryRequest, pipeline: RagDep) -> Response:
        """Answer a question from a collection, with citations and sources.

        With `"stream": true` the answer comes as server-sent events: `sources` (the numbered sources
        and the question used), `delta` (`{"text"}`, many), then `done` (answer, citations, invalid
        citations, cited source ids, usage, timings). Errors before the stream starts get their HTTP
        status; an error after it has started is sent as an `error` event with the usual error body.
        """
        question, history = body.conversation()
        k = min(body.k or settings.top_k, settings.server.max_k)
        prepared = await pipeline.prepare(question, body.collection, k, body.filters, body.mode, history, body.sampling())  # type: ignore[arg-type]
        if not body.stream:
            answer = await pipeline.answer(prepared, body.generate)
            prompt = pipeline.generator.prompt(prepared.question, prepared.hits, prepared.history) if body.include_prompt else None
            # serialised once by pydantic-core; returning the model would validate it a second time
            return Response(QueryResponse.of(answer, prompt).model_dump_json(exclude_none=True), media_type="application/json")
        loop = await pipeline.stream(prepared, body.generate)
        return StreamingResponse(query_events(loop), media_type="text/event-stream", headers=HEADERS)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorResponse}})
    async def readyz(pipeline: RagDep) -> JSONResponse:
        """200 only when queries can be answered (model loaded, store open)."""
        if not pipeline.ready:
            return errors.error_response(503, "NotReady", "the server is starting", "retry in a few seconds")
        return JSONResponse({"status": "ready", "answerer": pipeline.generator.mode})

    return app


async def query_events(loop: AnswerLoop) -> AsyncIterator[bytes]:
    """The events of a streamed ``/v1/query``."""
    prepared = loop.prepared
    sources = [s.model_dump() for s in sources_out(prepared.hits)]
    timings = {k: round(v, 3) for k, v in prepared.timings.items()}
    yield sse({"question": prepared.question, "mode": loop.mode, "sources": sources, "timings": timings}, "sources")
    try:
        async for text in loop.deltas():
            yield sse({"text": text}, "delta")
    except Exception as exc:  # the status line is sent: errors travel as an event
        yield sse(error_body(exc), "error")
        return
    answer = loop.answer
    assert answer is not None
    done = {
        "answer": answer.text,
        "mode": answer.mode,
        "citations": [c.model_dump() for c in citations_out(answer.citations)],
        "invalid_citations": answer.invalid_citations,
        "cited": sorted({c.source_index + 1 for c in answer.citations}),
        "usage": UsageOut.of(answer.usage).model_dump(),
        "timings": {k: round(v, 3) for k, v in answer.timings.items()},
    }
    yield sse(done, "done")
