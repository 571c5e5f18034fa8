"""Request and response bodies of the HTTP API (one model per direction)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragserve.core.types import Answer

FilterValue = str | int | float | bool | list[str | int | float | bool]


class QueryRequest(BaseModel):
    """Ask a question of a collection."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., max_length=8000, description="the question; must not be empty")
    collection: str | None = Field(None, description="collection to search; the server's default when omitted")
    k: int | None = Field(None, ge=1, le=100, description="how many sources to retrieve")
    filters: dict[str, FilterValue] | None = Field(
        None, description='metadata filter: {"source": "a.md"} (equality) or {"source": ["a.md", "b.md"]} (any of)'
    )
    mode: Literal["dense", "keyword", "hybrid"] | None = Field(
        None, description="retrieval: dense vectors, BM25 keywords, or both fused (the server's default when omitted)"
    )
    stream: bool = Field(False, description="server-sent events; not available yet (answers are returned whole)")


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
    start: int
    end: int
    text: str


class QueryResponse(BaseModel):
    """The answer, its citations, the sources and timings in milliseconds."""

    answer: str
    mode: str = Field(description="'extractive' (offline) or 'llm'")
    citations: list[CitationOut]
    sources: list[SourceOut]
    timings: dict[str, float]

    @classmethod
    def of(cls, answer: Answer) -> QueryResponse:
        """Build from a pipeline Answer."""
        cited = {c.source_index for c in answer.citations}
        return cls(
            answer=answer.text,
            mode=answer.mode,
            citations=[
                CitationOut(marker=c.marker, source=c.source_index + 1, chunk_id=c.chunk_id, start=c.start, end=c.end, text=c.text)
                for c in answer.citations
            ],
            sources=[
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
                for i, h in enumerate(answer.hits)
            ],
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
