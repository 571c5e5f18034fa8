"""Structure-aware chunking bounded by model tokens.

Sections (heading paths, pages) are never mixed in one chunk, except that a section too small to stand
alone (a heading with one line under it) is merged into the next. Inside a section, a chunk ends at the
last paragraph break that fits the token budget, else the last sentence end, else the last space; the
next chunk starts ``overlap`` tokens earlier, at a sentence start where one is near. Every chunk keeps its
character offsets in the document, and its id is stable: the same collection, source, offset and text
always give the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragserve.core.protocols import Tokenizer
from ragserve.core.types import Chunk, Document, Section

_SENTENCE_END = re.compile(r"[.!?:;][)\"'\]]*\s+|\n")
_SENTENCE_START = re.compile(r"(?:[.!?][)\"'\]]*\s+|\n)(?=\S)")


def document_id(collection: str, source: str) -> str:
    """Stable id of a document: its collection and source."""
    return hashlib.sha256(f"{collection}\x00{source}".encode()).hexdigest()[:32]


def chunk_id(collection: str, source: str, start: int, text: str) -> str:
    """Stable id of a chunk: its collection, source, offset and text."""
    return hashlib.sha256(f"{collection}\x00{source}\x00{start}\x00{text}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """How big chunks are, in model tokens."""

    max_tokens: int = 200
    overlap: int = 32
    min_tokens: int = 24


def _merged_sections(doc: Document, sizes: Sequence[int], min_tokens: int) -> list[Section]:
    sections = list(doc.sections) or [Section(0, len(doc.text), "")]
    merged: list[Section] = []
    pending: Section | None = None
    for section, size in zip(sections, sizes, strict=True):
        if pending is not None:
            section = Section(pending.start, section.end, section.location)
            pending = None
        if size < min_tokens and section is not sections[-1]:
            pending = section
            continue
        merged.append(section)
    if pending is not None:
        merged.append(pending)
    return merged


def _break_at(text: str, lo: int, hi: int) -> tuple[int, bool]:
    """Best end position in text[lo:hi] (paragraph break, sentence end, space, else ``hi``), and
    whether it is a paragraph break (the next chunk then needs no overlap)."""
    window = text[lo:hi]
    para = window.rfind("\n\n")
    if para > 0:
        return lo + para, True
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends:
        return lo + ends[-1], False
    space = window.rfind(" ")
    return (lo + space if space > 0 else hi), False


def _restart_at(text: str, lo: int, hi: int) -> int:
    """Where the overlapping next chunk starts within text[lo:hi]: a sentence start if there is one."""
    match = _SENTENCE_START.search(text, lo, hi)
    if match:
        return match.end()
    space = text.find(" ", lo, hi)
    return space + 1 if space >= 0 else lo


def _split(text: str, spans: list[tuple[int, int]], opts: ChunkingOptions) -> list[tuple[int, int]]:
    """(start, end) character ranges of ``text`` covering it in token-bounded pieces."""
    out: list[tuple[int, int]] = []
    first, n = 0, len(spans)
    while first < n:
        start = spans[first][0]
        last = first + opts.max_tokens
        if last >= n:
            out.append((start, len(text)))
            break
        floor = spans[first + opts.max_tokens // 2][0]
        end, paragraph = _break_at(text, floor, spans[last][0])
        out.append((start, end))
        # step back `overlap` tokens from the end, but always move forward
        back = first + 1
        while back < last and spans[back][0] < end:
            back += 1
        restart_tok = back if paragraph else max(first + 1, back - opts.overlap)
        restart = _restart_at(text, spans[restart_tok][0], end) if restart_tok < back else end
        first = next((i for i in range(restart_tok, n) if spans[i][0] >= restart), n)
    return out


def context_line(title: str, location: str) -> str:
    """Title and heading path, without repeating the title when the path starts with it."""
    if not location or location.startswith("page "):
        return f"{title} ({location})" if location and title else title or location
    return location if location.split(" > ", 1)[0] == title else f"{title} > {location}"


def chunk_document(doc: Document, collection: str, tokenizer: Tokenizer, opts: ChunkingOptions) -> list[Chunk]:
    """Split one document into chunks with offsets, stable ids and inherited metadata."""
    raw_sections = list(doc.sections) or [Section(0, len(doc.text), "")]
    sizes = [len(s) for s in tokenizer.token_spans([doc.text[s.start : s.end] for s in raw_sections])]
    sections = _merged_sections(doc, sizes, opts.min_tokens)
    texts = [doc.text[s.start : s.end] for s in sections]
    doc_id = document_id(collection, doc.source)
    chunks: list[Chunk] = []
    for section, text, spans in zip(sections, texts, tokenizer.token_spans(texts), strict=True):
        for lo, hi in _split(text, spans, opts):
            piece = text[lo:hi]
            stripped = piece.strip()
            if not stripped:
                continue
            start = section.start + lo + (len(piece) - len(piece.lstrip()))
            chunks.append(
                Chunk(
                    id=chunk_id(collection, doc.source, start, stripped),
                    document_id=doc_id,
                    source=doc.source,
                    text=stripped,
                    start=start,
                    end=start + len(stripped),
                    title=doc.title,
                    location=section.location,
                    context=context_line(doc.title, section.location),
                    metadata=dict(doc.metadata),
                )
            )
    return chunks
