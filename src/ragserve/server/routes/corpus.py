"""The living corpus over HTTP: collections and their documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ragserve.core.errors import Conflict, DocumentNotFound, InvalidInput
from ragserve.ingest.catalog import DocumentRecord
from ragserve.pipeline import RAG, check_collection_name
from ragserve.server.deps import RagDep

router = APIRouter(prefix="/v1/collections", tags=["collections"])


class CollectionCreate(BaseModel):
    """A new collection."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., description="1-63 letters, digits, '-' or '_'")
    description: str = Field("", max_length=2000)
    embedder: str | None = Field(
        None, description="embedding model, fixed for the collection's life; must be the one this server runs (the default)"
    )


class CollectionPublic(BaseModel):
    """A collection with its statistics."""

    name: str
    description: str
    embedder: str
    dimension: int
    documents: int
    chunks: int
    created_at: float
    updated_at: float | None


class DocumentPublic(BaseModel):
    """A document as the catalog knows it."""

    id: str
    source: str
    title: str
    media_type: str
    status: str
    error: str
    chunks: int
    content_hash: str
    indexed_at: float | None

    @classmethod
    def of(cls, r: DocumentRecord) -> DocumentPublic:
        """From a catalog record."""
        return cls(
            id=r.id,
            source=r.source,
            title=r.title,
            media_type=r.media_type,
            status=r.status,
            error=r.error,
            chunks=r.chunk_count,
            content_hash=r.content_hash,
            indexed_at=r.indexed_at,
        )


class DocumentPage(BaseModel):
    """One page of documents."""

    total: int
    offset: int
    limit: int
    documents: list[DocumentPublic]


class ChunkPublic(BaseModel):
    """A chunk of a document, with its offsets in the document's text."""

    id: str
    text: str
    start: int
    end: int
    location: str


def _collection(rag: RAG, name: str) -> dict[str, Any]:
    rag.check_collection(name)
    info = rag.catalog.collection_info(name)
    assert info is not None
    return info


def document_record(rag: RAG, collection: str, document_id: str) -> DocumentRecord:
    """The catalog record of a document of a collection; ``DocumentNotFound`` otherwise."""
    rag.check_collection(collection)
    record = rag.catalog.document(document_id)
    if record is None or record.collection != collection:
        raise DocumentNotFound(
            f"document {document_id!r} is not in collection {collection!r}",
            hint=f"list the documents with GET /v1/collections/{collection}/documents",
        )
    return record


@router.post("", status_code=201, response_model=CollectionPublic)
async def create_collection(body: CollectionCreate, rag: RagDep) -> dict[str, Any]:
    """Create an empty collection (409 if the name is taken)."""
    check_collection_name(body.name)
    if body.embedder is not None and body.embedder != rag.embedder.name:
        raise InvalidInput(
            f"this server embeds with {rag.embedder.name}, not {body.embedder}",
            hint="omit embedder, or run a server with RAGSERVE_EMBEDDER__MODEL set to that model",
        )
    if rag.catalog.collection(body.name) is not None:
        raise Conflict(f"collection {body.name!r} exists already", hint="choose another name, or DELETE it first")
    await rag.ingestor.ensure_collection(body.name, body.description)
    return _collection(rag, body.name)


@router.get("", response_model=list[CollectionPublic])
async def list_collections(rag: RagDep) -> list[dict[str, Any]]:
    """All collections with their statistics."""
    return [_collection(rag, name) for name in rag.catalog.collections()]


@router.get("/{collection}", response_model=CollectionPublic)
async def get_collection(collection: str, rag: RagDep) -> dict[str, Any]:
    """One collection's statistics."""
    return _collection(rag, collection)


@router.delete("/{collection}", status_code=204)
async def delete_collection(collection: str, rag: RagDep) -> Response:
    """Delete a collection and everything in it."""
    rag.check_collection(collection)
    await rag.ingestor.drop_collection(collection)
    return Response(status_code=204)


@router.get("/{collection}/documents", response_model=DocumentPage)
async def list_documents(
    collection: str,
    rag: RagDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    status: Literal["queued", "parsing", "embedding", "indexed", "failed"] | None = None,
) -> DocumentPage:
    """A page of the collection's documents, by source."""
    rag.check_collection(collection)
    total, records = rag.catalog.documents_page(collection, offset, limit, status)
    return DocumentPage(total=total, offset=offset, limit=limit, documents=[DocumentPublic.of(r) for r in records])


@router.get("/{collection}/documents/{document_id}", response_model=DocumentPublic)
async def get_document(collection: str, document_id: str, rag: RagDep) -> DocumentPublic:
    """One document: status, chunk count, content hash, when it was indexed."""
    return DocumentPublic.of(document_record(rag, collection, document_id))


@router.get("/{collection}/documents/{document_id}/chunks", response_model=list[ChunkPublic])
async def get_chunks(collection: str, document_id: str, rag: RagDep) -> list[ChunkPublic]:
    """The document's chunks in reading order."""
    document_record(rag, collection, document_id)
    chunks = await rag.store.get(collection, rag.catalog.chunk_ids(document_id))
    return [ChunkPublic(id=c.id, text=c.text, start=c.start, end=c.end, location=c.location) for c in sorted(chunks, key=lambda c: c.start)]


@router.delete("/{collection}/documents/{document_id}", status_code=204)
async def delete_document(collection: str, document_id: str, rag: RagDep) -> Response:
    """Delete a document and all its chunks. Immediate for queries; the stores are purged in the
    background (chunk ids come from the catalog: no scan)."""
    document_record(rag, collection, document_id)
    await rag.ingestor.delete_document(collection, document_id, wait=False)
    return Response(status_code=204)
