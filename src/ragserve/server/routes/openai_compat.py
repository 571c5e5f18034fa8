"""ragserve as an OpenAI-compatible model: any OpenAI client or chat UI can ask the collections.

``GET /v1/models`` lists each collection as a model named ``ragserve/<collection>``;
``POST /v1/chat/completions`` answers the last user message through the RAG pipeline, whole or
streamed, in OpenAI's wire format. The sources stay in the response: a ``sources`` field (and
``citations`` on the final chunk or the response) that OpenAI clients ignore and ragserve-aware
clients read, plus a readable "Sources" footer appended to the answer unless turned off
(``"sources_footer": false`` in the request, or ``RAGSERVE_SERVER__SOURCES_FOOTER=false``).

System messages from the client are not sent to the model: the prompt template owns the system
prompt (``RAGSERVE_LLM__PROMPT_FILE``). ``temperature`` and ``max_tokens`` are passed on (``max_tokens`` capped
by the server's setting); other sampling parameters are accepted and ignored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragserve.core.errors import InvalidInput, NotFound
from ragserve.core.types import Answer, Hit, Sampling, Turn
from ragserve.pipeline import RAG, AnswerLoop
from ragserve.server.deps import RagDep
from ragserve.server.schemas import FilterValue, UsageOut, citations_out, sources_out
from ragserve.server.streaming import HEADERS, error_body, sse

router = APIRouter(prefix="/v1", tags=["openai"])
PREFIX = "ragserve/"


class TextPart(BaseModel):
    """A content part; only text is read (images and audio are not RAG questions)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """An OpenAI chat message."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    """OpenAI's stream options."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; parameters ragserve does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(..., description="ragserve/<collection> (see GET /v1/models)")
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, description="only 1 is supported")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, description="capped by the server's RAGSERVE_LLM__MAX_TOKENS")
    max_completion_tokens: int | None = Field(None, ge=1, description="OpenAI's newer name of max_tokens")
    # ragserve's own fields (send them with the OpenAI client's extra_body)
    k: int | None = Field(None, ge=1, le=100, description="how many sources to retrieve")
    filters: dict[str, FilterValue] | None = None
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    sources_footer: bool | None = Field(None, description="append the readable Sources list; the server's setting when omitted")

    def sampling(self) -> Sampling:
        """Temperature and answer length asked for."""
        return Sampling(self.temperature, self.max_completion_tokens or self.max_tokens)

    def conversation(self) -> tuple[str, list[Turn]]:
        """The last user message and the user/assistant turns before it."""
        if self.n != 1:
            raise InvalidInput("n must be 1", hint="ask again for another answer")
        turns = [Turn(m.role, m.text()) for m in self.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user" or not turns[-1].content.strip():
            raise InvalidInput("the last message must be the user's question", hint='end messages with {"role": "user", "content": "..."}')
        return turns[-1].content, turns[:-1]


class Model(BaseModel):
    """An OpenAI model object."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragserve"


class ModelList(BaseModel):
    """OpenAI's model list."""

    object: Literal["list"] = "list"
    data: list[Model]


def _models(rag: RAG) -> list[Model]:
    infos = (rag.catalog.collection_info(name) for name in rag.catalog.collections())
    return [Model(id=PREFIX + str(i["name"]), created=int(i["created_at"] or 0)) for i in infos if i]  # type: ignore[call-overload]


def resolve(rag: RAG, model: str) -> str:
    """The collection a model name means: ``ragserve/<c>``, ``<c>``, or ``ragserve`` for the default."""
    name = rag.settings.default_collection if model == "ragserve" else model.removeprefix(PREFIX)
    if rag.catalog.collection(name) is None:
        known = ", ".join(PREFIX + n for n in rag.catalog.collections())
        raise NotFound(f"model {model!r} does not exist", hint=f"use one of: {known}" if known else "ingest documents first")
    return name


def footer(hits: Sequence[Hit], answer: Answer) -> str:
    """The readable list of cited sources, appended to the answer."""
    cited = sorted({c.source_index for c in answer.citations})
    if not cited:
        return ""
    lines = []
    for i in cited:
        chunk = hits[i].chunk
        where = f" › {chunk.location}" if chunk.location else ""
        title = f"{chunk.title} — " if chunk.title else ""
        lines.append(f"[{i + 1}] {title}{chunk.source}{where}")
    return "\n\nSources:\n" + "\n".join(lines)


@router.get("/models", response_model=ModelList)
async def list_models(rag: RagDep) -> ModelList:
    """Every collection, as an OpenAI model."""
    return ModelList(data=_models(rag))


@router.get("/models/{model:path}", response_model=Model)
async def get_model(model: str, rag: RagDep) -> Model:
    """One collection, as an OpenAI model."""
    name = resolve(rag, model)
    return next(m for m in _models(rag) if m.id == PREFIX + name)


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, rag: RagDep) -> Response:
    """Answer the last user message from the collection the model names, in OpenAI's format."""
    question, history = body.conversation()
    collection = resolve(rag, body.model)
    k = min(body.k or rag.settings.top_k, rag.settings.server.max_k)
    show_footer = rag.settings.server.sources_footer if body.sources_footer is None else body.sources_footer
    meta = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": body.model}
    if not body.stream:
        answer = await rag.query(question, collection, k, body.filters, body.mode, history, sampling=body.sampling())  # type: ignore[arg-type]
        content = answer.text + (footer(answer.hits, answer) if show_footer else "")
        return Response(_completion(meta, content, answer).model_dump_json(), media_type="application/json")
    prepared = await rag.prepare(question, collection, k, body.filters, body.mode, history, body.sampling())  # type: ignore[arg-type]
    loop = await rag.stream(prepared)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = _chunks(meta, loop, show_footer, include_usage)
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


class _Message(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class _Choice(BaseModel):
    index: int = 0
    message: _Message
    logprobs: None = None
    finish_reason: str = "stop"


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion``, plus ``sources`` and ``citations``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[_Choice]
    usage: UsageOut
    sources: list[dict[str, Any]]
    citations: list[dict[str, Any]]


def _completion(meta: dict[str, Any], content: str, answer: Answer) -> ChatCompletion:
    cited = {c.source_index for c in answer.citations}
    return ChatCompletion(
        **meta,
        choices=[_Choice(message=_Message(content=content))],
        usage=UsageOut.of(answer.usage),
        sources=[s.model_dump() for s in sources_out(answer.hits, cited)],
        citations=[c.model_dump() for c in citations_out(answer.citations)],
    )


def _chunk(meta: dict[str, Any], delta: dict[str, str], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return sse({**meta, "object": "chat.completion.chunk", "choices": [choice], **extra})


async def _chunks(meta: dict[str, Any], loop: AnswerLoop, show_footer: bool, include_usage: bool) -> AsyncIterator[bytes]:
    """OpenAI's ``chat.completion.chunk`` events: role (with the sources), content, finish, usage, [DONE]."""
    yield _chunk(meta, {"role": "assistant", "content": ""}, sources=[s.model_dump() for s in sources_out(loop.prepared.hits)])
    try:
        async for text in loop.deltas():
            yield _chunk(meta, {"content": text})
    except Exception as exc:  # the status line is sent: the error travels as an event, as OpenAI's do
        yield sse(error_body(exc, openai=True))
        return
    answer = loop.answer
    assert answer is not None
    if show_footer and (tail := footer(answer.hits, answer)):
        yield _chunk(meta, {"content": tail})
    cited = {c.source_index for c in answer.citations}
    yield _chunk(
        meta,
        {},
        "stop",
        sources=[s.model_dump() for s in sources_out(answer.hits, cited)],
        citations=[c.model_dump() for c in citations_out(answer.citations)],
    )
    if include_usage:
        yield sse({**meta, "object": "chat.completion.chunk", "choices": [], "usage": UsageOut.of(answer.usage).model_dump()})
    yield b"data: [DONE]\n\n"
