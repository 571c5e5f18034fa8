"""Request and response bodies of the HTTP API (one model per direction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragserve.core.errors import InvalidInput
from ragserve.core.types import Answer, Citation, Hit, Sampling, Turn, Usage

FilterValue = str | int | float | bool | list[str | int | float | bool]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=32000)


class QueryRequest(BaseModel):
    """Ask a question of a collection, alone or as the follow-up of a conversation."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(None, max_length=8000, description="the question; or send `messages`")
    messages: list[Message] | None = Field(
        None, max_length=200, description="a conversation ending with the user's question (instead of `question`)"
    )
    collection: str | None = Field(None, description="collection to search; the server's default when omitted")
    k: int | None = Field(None, ge=1, le=100, description="how many sources to retrieve")
    filters: dict[str, FilterValue] | None = Field(
        None, description='metadata filter: {"source": "a.md"} (equality) or {"source": ["a.md", "b.md"]} (any of)'
    )
    mode: Literal["dense", "keyword", "hybrid"] | None = Field(
        None, description="retrieval: dense vectors, BM25 keywords, or both fused (the server's default when omitted)"
    )
    generate: bool = Field(True, description="false: only retrieve and return the sources (no LLM call)")
    include_prompt: bool = Field(False, description="return the prompt the LLM is sent (for debugging templates)")
    temperature: float | None = Field(None, ge=0, le=2, description="LLM sampling temperature; the server's when omitted")
    max_tokens: int | None = Field(None, ge=1, description="longest answer in tokens, capped by the server's RAGSERVE_LLM__MAX_TOKENS")

    def sampling(self) -> Sampling:
        """The request's generation settings."""
        return Sampling(self.temperature, self.max_tokens)

    stream: bool = Field(False, description="server-sent events: `sources`, then `delta`s, then `done` (or `error`)")

    def conversation(self) -> tuple[str, list[Turn]]:
        """The question and the turns before it; raises ``InvalidInput`` naming the fix."""
        if self.messages:
            if self.question is not None:
                raise InvalidInput("send either question or messages, not both", hint="put the question last in messages")
            if self.messages[-1].role != "user":
                raise InvalidInput("the last message must be the user's question", hint='end messages with {"role": "user", ...}')
            return self.messages[-1].content, [Turn(m.role, m.content) for m in self.messages[:-1]]
        if self.question is None:
            raise InvalidInput("the request has no question", hint='send {"question": "..."} or {"messages": [...]}')
        return self.question, []


class SourceOut(BaseModel):
    """A retrieved passage, numbered as the answer cites it ([1] is the first)."""

    id: int
    document: str = Field(description="path of the document relative to the ingested folder")
    title: str
    location: str = Field(description="heading path or page")
    text: str
    score: float
    chunk_id: str
    start: int
    end: int
    cited: bool


class CitationOut(BaseModel):
    """A [n] marker in the answer and the span of the source it cites."""

    marker: int
    source: int = Field(description="the id of the cited source")
    chunk_id: str
    start: int = Field(description="offset of the cited span in the document's text")
    end: int
    text: str = Field(description="the cited span: the sentence that supports the claim, or the whole chunk")
    offset: int = Field(description="where the marker stands in the answer")


class UsageOut(BaseModel):
    """LLM tokens spent on the answer (and on condensing a follow-up); zero offline."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated: bool = Field(False, description="counted by ragserve: the LLM server did not report usage")

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        """From the pipeline's Usage."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            estimated=usage.estimated,
        )


def sources_out(hits: Sequence[Hit], cited: set[int] | frozenset[int] = frozenset()) -> list[SourceOut]:
    """The hits as numbered sources; ``cited`` holds 0-based indexes."""
    return [
        SourceOut(
            id=i + 1,
            document=h.chunk.source,
            title=h.chunk.title,
            location=h.chunk.location,
            text=h.chunk.text,
            score=round(h.score, 6),
            chunk_id=h.chunk.id,
            start=h.chunk.start,
            end=h.chunk.end,
            cited=i in cited,
        )
        for i, h in enumerate(hits)
    ]


def citations_out(citations: Sequence[Citation]) -> list[CitationOut]:
    """The citations with 1-based source ids."""
    return [
        CitationOut(marker=c.marker, source=c.source_index + 1, chunk_id=c.chunk_id, start=c.start, end=c.end, text=c.text, offset=c.offset)
        for c in citations
    ]


class QueryResponse(BaseModel):
    """The answer, its citations, the sources, token usage and timings in milliseconds."""

    answer: str
    mode: str = Field(description="'llm', 'extractive' (offline) or 'retrieval' (generate: false)")
    question: str = Field(description="the question retrieval used (a follow-up is rewritten to stand alone)")
    citations: list[CitationOut]
    invalid_citations: list[int] = Field(description="[n] markers that named no source; removed from the answer")
    sources: list[SourceOut] = Field(description="every retrieved source; `cited` tells which the answer cites")
    usage: UsageOut
    timings: dict[str, float]
    prompt: list[dict[str, str]] | str | None = Field(None, description="what the LLM was sent, with include_prompt")

    @classmethod
    def of(cls, answer: Answer, prompt: list[dict[str, str]] | str | None = None) -> QueryResponse:
        """Build from a pipeline Answer."""
        return cls(
            prompt=prompt,
            answer=answer.text,
            mode=answer.mode,
            question=answer.question,
            citations=citations_out(answer.citations),
            invalid_citations=answer.invalid_citations,
            sources=sources_out(answer.hits, {c.source_index for c in answer.citations}),
            usage=UsageOut.of(answer.usage),
            timings={k: round(v, 3) for k, v in answer.timings.items()},
        )


class ErrorBody(BaseModel):
    """The one error shape: ``{"error": {"type", "message", "hint"}}``."""

    type: str
    message: str
    hint: str = ""


class ErrorResponse(BaseModel):
    """Wrapper of ``ErrorBody``."""

    error: ErrorBody
