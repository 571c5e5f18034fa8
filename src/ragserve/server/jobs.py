"""Background ingestion jobs: uploads, URL fetches and folder syncs run as tasks inside the server.

Jobs of one collection run one at a time (a lock per collection); each reports progress from the
ingestor's events. Jobs live in memory: a restart forgets them, while what they indexed stays (the
catalog's intent protocol finishes or undoes a job cut short).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from ragserve.core.errors import NotFound, RagError
from ragserve.pipeline import IngestReport, ProgressFn

log = logging.getLogger(__name__)
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@dataclass
class Job:
    """One background ingestion and its progress."""

    id: str
    kind: str
    collection: str
    status: Status = "queued"
    files_total: int = 0
    files_done: int = 0
    indexed: int = 0
    unchanged: int = 0
    chunks: int = 0
    removed: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    message: str = ""
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def update(self, report: IngestReport) -> None:
        """Copy an ingestion report's counters."""
        self.files_total = report.files
        self.files_done = report.indexed + report.unchanged + len(report.failed)
        self.indexed, self.unchanged, self.chunks = report.indexed, report.unchanged, report.chunks
        self.removed = list(report.removed)
        self.errors = [{"source": s, "reason": r} for s, r in report.failed]


Work = Callable[[ProgressFn], Awaitable[IngestReport]]


class JobManager:
    """Starts, tracks and cancels jobs."""

    def __init__(self, keep: int = 1000) -> None:
        self.jobs: dict[str, Job] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._keep = keep

    def submit(self, kind: str, collection: str, work: Work, cleanup: Callable[[], object] | None = None) -> Job:
        """Queue ``work`` for ``collection``; returns the job at once. ``cleanup`` runs if it is cancelled."""
        job = Job(id=uuid.uuid4().hex, kind=kind, collection=collection)
        self.jobs[job.id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job, work, cleanup))
        self._forget_old()
        return job

    async def _run(self, job: Job, work: Work, cleanup: Callable[[], object] | None = None) -> None:
        lock = self._locks.setdefault(job.collection, asyncio.Lock())
        try:
            async with lock:
                job.status = "running"
                report = await work(lambda _event, r: job.update(r))
                job.update(report)
                job.status = "succeeded"
        except asyncio.CancelledError:
            job.status = "cancelled"
            if cleanup is not None:
                cleanup()
        except RagError as exc:
            job.status, job.message = "failed", str(exc)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            job.status, job.message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = time.time()

    def get(self, job_id: str) -> Job:
        """A job by id."""
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} does not exist", hint="list jobs with GET /v1/jobs (jobs are forgotten on restart)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (finished jobs are left as they are)."""
        job = self.get(job_id)
        if job.task is not None and not job.task.done():
            job.task.cancel()
        return job

    async def close(self) -> None:
        """Cancel what is still running."""
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget_old(self) -> None:
        done = [j for j in self.jobs.values() if j.finished_at is not None]
        for job in sorted(done, key=lambda j: j.created_at)[: max(0, len(self.jobs) - self._keep)]:
            del self.jobs[job.id]
