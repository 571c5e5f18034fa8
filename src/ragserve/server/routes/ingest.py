"""Adding documents over HTTP: uploads, URLs and folder syncs, each run as a background job (202)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from ragserve.core.errors import InvalidInput, PayloadTooLarge, RagError, UnsupportedMediaType
from ragserve.ingest import parsers
from ragserve.ingest.chunking import document_id
from ragserve.pipeline import RAG, IngestReport, ProgressFn
from ragserve.server.deps import RagDep
from ragserve.server.jobs import Job, JobManager

router = APIRouter(tags=["ingestion"])


class JobPublic(BaseModel):
    """A background ingestion and its progress."""

    id: str
    kind: str
    collection: str
    status: str
    files_total: int
    files_done: int
    indexed: int
    unchanged: int
    chunks: int
    removed: list[str]
    errors: list[dict[str, str]] = Field(description="per-file failures: source and reason")
    message: str
    created_at: float
    finished_at: float | None

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        """From a job."""
        return cls(**{name: getattr(job, name) for name in cls.model_fields})


class UrlBody(BaseModel):
    """A document to fetch over HTTP(S)."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., pattern=r"^https?://", description="an HTML or PDF page")


class SyncBody(BaseModel):
    """A folder on the server to mirror."""

    model_config = ConfigDict(extra="forbid")
    path: str


def jobs_of(request: Request) -> JobManager:
    """The job manager of this app."""
    manager: JobManager = request.app.state.jobs
    return manager


def _ensure_target(rag: RAG, collection: str) -> None:
    if collection != rag.settings.default_collection:
        rag.check_collection(collection)


async def _read(upload: UploadFile, limit: int) -> tuple[str, bytes]:
    name = (upload.filename or "").replace("\\", "/").lstrip("/")
    if not name or ".." in name.split("/"):
        raise InvalidInput("each uploaded file needs a file name", hint="send multipart parts with filename=...")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is larger than {limit // 2**20} MiB", hint="raise RAGSERVE_SERVER__MAX_UPLOAD_MB or split the file")
    if not data.strip():
        raise InvalidInput(f"{name} is empty", hint="upload a file with content")
    media = parsers.sniff(data, name)  # binary content of another kind raises UnsupportedMediaType
    if media == "text/plain" and not parsers.is_supported_name(name) and "." in name.rsplit("/", 1)[-1]:
        raise UnsupportedMediaType(f"{name}: unsupported file type", hint=f"ragserve accepts {parsers.ACCEPTED}")
    return name, data


def _submit_files(request: Request, rag: RAG, collection: str, files: list[tuple[str, bytes]], kind: str) -> Job:
    if rag.catalog.collection(collection) is not None:
        new = [(document_id(collection, name), name) for name, _ in files]
        rag.catalog.mark(collection, [(d, s) for d, s in new if rag.catalog.document(d) is None], "queued")

    async def work(progress: ProgressFn) -> IngestReport:
        items = [(name, (lambda d=data: d)) for name, data in files]
        return await rag.ingestor.ingest_items(items, collection, total=len(items), progress=progress)

    return jobs_of(request).submit(kind, collection, work, cleanup=lambda: rag.catalog.settle(collection))


@router.post("/v1/collections/{collection}/documents", status_code=202, response_model=JobPublic)
async def upload(collection: str, request: Request, rag: RagDep, files: Annotated[list[UploadFile], File()]) -> JobPublic:
    """Upload one or many files (multipart field ``files``); they are indexed by a background job."""
    _ensure_target(rag, collection)
    limit = rag.settings.server.max_upload_mb * 2**20
    read = [await _read(f, limit) for f in files]
    return JobPublic.of(_submit_files(request, rag, collection, read, "upload"))


@router.put("/v1/collections/{collection}/documents/{document_id}", status_code=202, response_model=JobPublic)
async def replace(collection: str, document_id: str, request: Request, rag: RagDep, file: Annotated[UploadFile, File()]) -> JobPublic:
    """Replace a document's content (re-index it) with an uploaded file; its source stays."""
    from ragserve.server.routes.corpus import document_record

    record = document_record(rag, collection, document_id)
    _, data = await _read(file, rag.settings.server.max_upload_mb * 2**20)
    return JobPublic.of(_submit_files(request, rag, collection, [(record.source, data)], "replace"))


@router.post("/v1/collections/{collection}/documents/url", status_code=202, response_model=JobPublic)
async def add_url(collection: str, body: UrlBody, request: Request, rag: RagDep) -> JobPublic:
    """Fetch a page (HTML or PDF) and index it; its source is the URL."""
    _ensure_target(rag, collection)
    limit = rag.settings.server.max_upload_mb * 2**20

    async def work(progress: ProgressFn) -> IngestReport:
        report = IngestReport(files=1)
        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
                response = await client.get(body.url)
            response.raise_for_status()
            if len(response.content) > limit:
                raise PayloadTooLarge(f"{body.url} is larger than {limit // 2**20} MiB")
        except (httpx.HTTPError, RagError) as exc:
            report.failed.append((body.url, f"could not fetch it: {exc}"))
            return report
        data = response.content
        return await rag.ingestor.ingest_items([(body.url, lambda: data)], collection, total=1, progress=progress)

    return JobPublic.of(jobs_of(request).submit("url", collection, work))


@router.post("/v1/collections/{collection}/sync", status_code=202, response_model=JobPublic)
async def sync_folder(collection: str, body: SyncBody, request: Request, rag: RagDep) -> JobPublic:
    """Mirror a folder on the server: new and changed files indexed, vanished ones removed."""
    path = Path(body.path)
    if not path.exists():
        raise InvalidInput(f"{path} does not exist on the server", hint="give a folder path as the server sees it")

    async def work(progress: ProgressFn) -> IngestReport:
        return await rag.ingestor.sync_path(path, collection, progress)

    return JobPublic.of(jobs_of(request).submit("sync", collection, work))


@router.get("/v1/jobs", response_model=list[JobPublic])
async def list_jobs(request: Request) -> list[JobPublic]:
    """Jobs since the server started, newest first."""
    jobs = sorted(jobs_of(request).jobs.values(), key=lambda j: -j.created_at)
    return [JobPublic.of(j) for j in jobs]


@router.get("/v1/jobs/{job_id}", response_model=JobPublic)
async def get_job(job_id: str, request: Request) -> JobPublic:
    """A job's status and progress: files done of total, chunks embedded, per-file errors."""
    return JobPublic.of(jobs_of(request).get(job_id))


@router.delete("/v1/jobs/{job_id}", response_model=JobPublic)
async def cancel_job(job_id: str, request: Request) -> Any:
    """Cancel a queued or running job; what it indexed so far stays consistent."""
    return JobPublic.of(jobs_of(request).cancel(job_id))
