"""Plain data that flows through the pipeline: documents, chunks, hits and answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ragserve.core.errors import InvalidInput

Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Section:
    """A span of a document's text that shares one location (a page, a heading path)."""

    start: int
    end: int
    location: str


@dataclass(frozen=True, slots=True)
class Document:
    """Text parsed from one file, with where it came from.

    ``source`` is the path relative to the ingested root (or the upload's name); every character
    offset in the pipeline points into ``text``.
    """

    source: str
    text: str
    media_type: str
    title: str = ""
    sections: tuple[Section, ...] = ()
    metadata: Mapping[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document, the unit that is embedded, stored and retrieved.

    ``start``/``end`` are character offsets into the document's text, so ``text`` equals
    ``document.text[start:end]``. ``context`` is the title and heading path that the embedder sees in
    front of the text.
    """

    id: str
    document_id: str
    source: str
    text: str
    start: int
    end: int
    title: str = ""
    location: str = ""
    context: str = ""
    metadata: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        """The text the embedder sees: context line, then the passage."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found by a search, with its similarity score (higher is better)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    """Conjunction of field conditions; a condition holds when the field equals one of its values.

    Built from JSON like ``{"source": "a.md"}`` (equality) or ``{"source": ["a.md", "b.md"]}`` (in).
    """

    conditions: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, object] | None) -> MetadataFilter | None:
        """Validate a JSON filter; raises ``InvalidInput`` naming the bad field."""
        if not raw:
            return None
        conditions = []
        for name, value in raw.items():
            values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
            if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise InvalidInput(
                    f"filter field {name!r} must be a string, number or boolean, or a non-empty list of them",
                    hint='write filters like {"source": "guide/intro.md"} or {"source": ["a.md", "b.md"]}',
                )
            conditions.append((str(name), values))
        return cls(tuple(conditions))

    def matches(self, metadata: Mapping[str, object]) -> bool:
        """Whether ``metadata`` satisfies every condition."""
        return all(metadata.get(name) in values for name, values in self.conditions)


@dataclass(frozen=True, slots=True)
class Citation:
    """One ``[n]`` in an answer: which source it names and the span of the document it cites.

    ``start``/``end`` are offsets into the cited document's text (``text`` is that span: the sentence
    of the chunk that supports the claim, or the whole chunk when no sentence does); ``offset`` is where
    the marker stands in the answer.
    """

    marker: int
    source_index: int
    chunk_id: str
    start: int
    end: int
    text: str
    offset: int = -1


@dataclass(frozen=True, slots=True)
class Usage:
    """Model tokens spent on an answer (zero for the offline answerer, which uses no model)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: counted by ragserve because the server did not say (some servers send no usage when streaming)
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )


@dataclass(frozen=True, slots=True)
class Sampling:
    """Per-request generation settings; None keeps the server's (``max_tokens`` is capped by it)."""

    temperature: float | None = None
    max_tokens: int | None = None


#: the server's settings, unchanged
DEFAULT_SAMPLING = Sampling()


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation (``role`` is ``user`` or ``assistant``)."""

    role: str
    content: str


@dataclass(slots=True)
class Answer:
    """What a query returns: the answer text, its citations, the sources it used and timings (ms)."""

    text: str
    citations: list[Citation]
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"
    #: numbers of ``[n]`` markers that named no source; they were removed from ``text``
    invalid_citations: list[int] = field(default_factory=list)
    usage: Usage = Usage()
    #: the question retrieval used: the follow-up condensed into a standalone question in a conversation
    question: str = ""


__all__ = [
    "DEFAULT_SAMPLING",
    "Answer",
    "Chunk",
    "Citation",
    "Document",
    "Hit",
    "MetadataFilter",
    "Scalar",
    "Sampling",
    "Section",
    "Turn",
    "Usage",
]
