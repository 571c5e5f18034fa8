"""How a chunk is flattened into the scalar metadata that stores keep, and rebuilt from it."""

from __future__ import annotations

from collections.abc import Mapping

from ragserve.core.types import Chunk, Scalar

#: fields every stored chunk has; user metadata may not override them
RESERVED = ("document_id", "source", "title", "location", "context", "start", "end")


def chunk_fields(chunk: Chunk) -> dict[str, Scalar]:
    """Flat metadata of a chunk: user metadata, then the reserved fields."""
    fields: dict[str, Scalar] = {k: v for k, v in chunk.metadata.items() if k not in RESERVED}
    fields.update(
        document_id=chunk.document_id,
        source=chunk.source,
        title=chunk.title,
        location=chunk.location,
        context=chunk.context,
        start=chunk.start,
        end=chunk.end,
    )
    return fields


def chunk_from_fields(chunk_id: str, text: str, fields: Mapping[str, Scalar]) -> Chunk:
    """Rebuild a chunk from what a store returned."""
    return Chunk(
        id=chunk_id,
        document_id=str(fields.get("document_id", "")),
        source=str(fields.get("source", "")),
        text=text,
        start=int(fields.get("start", 0)),
        end=int(fields.get("end", 0)),
        title=str(fields.get("title", "")),
        location=str(fields.get("location", "")),
        context=str(fields.get("context", "")),
        metadata={k: v for k, v in fields.items() if k not in RESERVED},
    )
