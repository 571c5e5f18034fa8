"""The orchestration: ``Ingestor`` (files → chunks → vectors → store + catalog) and ``RAG`` (question →
answer with sources). The HTTP server and the CLI are thin front doors onto these two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ragserve.answer.citations import MarkerFilter, cite, clean
from ragserve.answer.extractive import ListStream
from ragserve.batching import Coalescer
from ragserve.core.errors import CollectionNotFound, ConfigError, EmptyQuery, InvalidInput, RagError
from ragserve.core.protocols import AnswerStream, Embedder, Generator, KeywordIndex, Reranker, Vectors, VectorStore
from ragserve.core.types import DEFAULT_SAMPLING, Answer, Chunk, Document, Hit, MetadataFilter, Sampling, Turn, Usage
from ragserve.ingest import parsers
from ragserve.ingest.catalog import Catalog, DocumentRecord
from ragserve.ingest.chunking import ChunkingOptions, chunk_document, document_id
from ragserve.retrieval.filtered import filtered_search
from ragserve.retrieval.hybrid import fuse_ids
from ragserve.settings import Settings

RetrievalMode = Literal["dense", "keyword", "hybrid"]

log = logging.getLogger(__name__)
#: bump when parsing or chunking changes what a file turns into
PIPELINE_VERSION = "2"
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def check_collection_name(name: str) -> str:
    """Collection names: letters, digits, ``-`` and ``_``, up to 63 characters."""
    if not COLLECTION_NAME.match(name):
        raise InvalidInput(
            f"invalid collection name {name!r}",
            hint="use 1-63 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


@dataclass
class IngestReport:
    """What an ingestion did."""

    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    chunks: int = 0
    tokens: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


ProgressFn = Callable[[str, IngestReport], None]


@dataclass
class _Parsed:
    record: DocumentRecord
    chunks: list[Chunk]


def walk(root: Path) -> tuple[list[Path], list[str]]:
    """Files under ``root`` that ragserve reads, and the ones it skips (by extension), both sorted."""
    if root.is_file():
        return [root], []
    if not root.is_dir():
        raise InvalidInput(f"{root} does not exist", hint="give the path of a folder or a file to ingest")
    keep: list[Path] = []
    skip: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        (keep if parsers.is_supported_name(path.name) else skip).append(path)
    return keep, [p.relative_to(root).as_posix() for p in skip]


class Ingestor:
    """Parses, chunks, embeds and stores documents, keeping catalog and store consistent."""

    def __init__(
        self, settings: Settings, embedder: Embedder, store: VectorStore, catalog: Catalog, keyword: KeywordIndex | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.keyword = keyword
        self._purge_lock = asyncio.Lock()
        self._purger: asyncio.Task[int] | None = None
        c = settings.chunk
        self.options = ChunkingOptions(c.max_tokens, c.overlap, c.min_tokens)
        # part of every document's hash: new chunking, parsing or embedding re-indexes unchanged files
        self.fingerprint = f"{PIPELINE_VERSION}|{embedder.fingerprint}|{c.max_tokens}|{c.overlap}|{c.min_tokens}".encode()

    async def ensure_collection(self, name: str, description: str = "") -> None:
        """Create the collection in catalog and store; refuse a model change on an existing one."""
        check_collection_name(name)
        await self.embedder.start()
        known = self.catalog.collection(name)
        if known is not None and known != (self.embedder.name, self.embedder.dimension):
            raise ConfigError(
                f"collection {name!r} was built with {known[0]} ({known[1]} dimensions), not {self.embedder.name}",
                hint="use the same RAGSERVE_EMBEDDER__MODEL, or ingest into a new collection",
            )
        await self.store.create_collection(name, self.embedder.dimension)
        if self.keyword is not None:
            await self.keyword.create_collection(name)
        self.catalog.ensure_collection(name, self.embedder.name, self.embedder.dimension, description)

    async def recover(self) -> int:
        """Finish or undo store work that a crash interrupted; returns how many intents were replayed."""
        intents = self.catalog.intents()
        for name in self.catalog.collections():
            self.catalog.settle(name)  # statuses a crash left in flight
        for intent in intents:
            if intent.kind == "upsert":
                committed = set(self.catalog.chunk_ids(intent.document_id))
                orphans = [c for c in intent.chunk_ids if c not in committed]
            else:
                orphans = intent.chunk_ids
            await self._delete_chunks(intent.collection, orphans)
            self.catalog.finish(intent.document_id, intent.kind, intent.chunk_ids)
        if intents:
            log.info("recovered %d interrupted document writes", len(intents))
        return len(intents)

    async def _delete_chunks(self, collection: str, ids: Sequence[str]) -> None:
        """Delete from the vector store and the keyword index; absent ids and collections are fine."""
        with contextlib.suppress(CollectionNotFound):  # a dropped collection has nothing left to undo
            await self.store.delete(collection, ids)
        if self.keyword is not None:
            with contextlib.suppress(CollectionNotFound):
                await self.keyword.delete(collection, ids)

    async def backfill_keyword(self) -> int:
        """Build the keyword index of collections that lack one (created while it was off) from the
        chunks in the vector store; returns how many chunks were added."""
        if self.keyword is None:
            return 0
        added = 0
        for name in self.catalog.collections():
            try:
                await self.keyword.count(name)
                continue
            except CollectionNotFound:
                pass
            await self.keyword.create_collection(name)
            ids = sorted(self.catalog.all_chunk_ids(name))
            for lo in range(0, len(ids), 1000):
                chunks = await self.store.get(name, ids[lo : lo + 1000])
                await self.keyword.upsert(name, chunks)
                added += len(chunks)
            log.info("built the keyword index of %r from %d stored chunks", name, added)
        return added

    def _prepare(self, data: bytes, source: str, collection: str, media_type: str | None) -> _Parsed | None:
        """Parse and chunk one file; None if it is unchanged since it was indexed."""
        digest = hashlib.sha256(self.fingerprint + b"\x00" + data).hexdigest()
        doc_id = document_id(collection, source)
        known = self.catalog.document(doc_id)
        if known is not None and known.content_hash == digest and known.status == "indexed":
            return None
        self.catalog.mark(collection, [(doc_id, source)], "parsing")
        try:
            docs = parsers.parse(data, source, media_type)
            chunks = [c for d in docs for c in chunk_document(d, collection, self.embedder.tokenizer, self.options)]
            if not chunks:
                raise InvalidInput(f"{source}: no text found", hint="check that the file is not empty")
        except RagError as exc:
            self.catalog.mark_failed(doc_id, collection, source, digest, exc.message)
            raise
        first: Document = docs[0]
        record = DocumentRecord(doc_id, collection, source, digest, first.media_type, first.title, "indexed", "", len(chunks), None)
        return _Parsed(record, chunks)

    async def _store(self, collection: str, batch: list[_Parsed], report: IngestReport) -> None:
        """Embed the chunks of several documents at once, then write them with the intent protocol
        (see ``ingest.catalog``): intents, store and keyword writes, catalog commit, stale deletes."""
        chunks = [c for p in batch for c in p.chunks]
        self.catalog.mark(collection, [(p.record.id, p.record.source) for p in batch], "embedding")
        vectors = await self.embedder.embed([c.embed_text for c in chunks])
        for parsed in batch:
            self.catalog.begin_replace(parsed.record.id, collection, [c.id for c in parsed.chunks])
        await self.store.upsert(collection, chunks, vectors)
        if self.keyword is not None:
            await self.keyword.upsert(collection, chunks)
        stale_by_doc = {p.record.id: self.catalog.commit_replace(p.record, [c.id for c in p.chunks]) for p in batch}
        stale = [cid for ids in stale_by_doc.values() for cid in ids]
        if stale:
            await self._delete_chunks(collection, stale)
            for doc_id, ids in stale_by_doc.items():
                if ids:
                    self.catalog.finish(doc_id, "delete", ids)
        report.indexed += len(batch)
        report.chunks += len(chunks)

    async def ingest_items(
        self,
        items: Iterable[tuple[str, Callable[[], bytes]]],
        collection: str,
        *,
        total: int,
        progress: ProgressFn | None = None,
        group_chunks: int = 512,
    ) -> IngestReport:
        """Ingest (source, read-bytes) pairs; a bad file fails alone, with its reason in the report.

        Parsing runs in a worker thread one group ahead of embedding, so the two overlap.
        """
        started = time.perf_counter()
        await self.ensure_collection(collection)
        report = IngestReport(files=total)
        queue: asyncio.Queue[list[_Parsed] | None] = asyncio.Queue(maxsize=2)

        def produce_group(it: Iterable[tuple[str, Callable[[], bytes]]]) -> list[_Parsed] | None:
            group: list[_Parsed] = []
            size = 0
            for source, read in it:
                try:
                    parsed = self._prepare(read(), source, collection, None)
                except (RagError, OSError) as exc:
                    report.failed.append((source, exc.message if isinstance(exc, RagError) else str(exc)))
                    continue
                if parsed is None:
                    report.unchanged += 1
                    continue
                group.append(parsed)
                size += len(parsed.chunks)
                if size >= group_chunks:
                    return group
            return group or None

        async def producer() -> None:
            it = iter(items)
            try:
                while (group := await asyncio.to_thread(produce_group, it)) is not None:
                    await queue.put(group)
            finally:
                await queue.put(None)

        task = asyncio.create_task(producer())
        try:
            while (group := await queue.get()) is not None:
                await self._store(collection, group, report)
                if progress:
                    progress("progress", report)
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.catalog.settle(collection)  # nothing stays "parsing" or "embedding" after a cancellation
        report.seconds = time.perf_counter() - started
        if progress:
            progress("done", report)
        return report

    async def delete_document(self, collection: str, document_id: str, *, wait: bool = True) -> int:
        """Remove a document; returns its chunk count (0 if it was absent).

        The catalog forgets it in one transaction, and from then on no query returns its chunks (reads
        keep only committed chunks). Their physical removal from the stores is a ``delete`` intent:
        done now with ``wait``, else by a background purge that batches deletes (a crash leaves the
        intent for ``recover``).
        """
        ids = self.catalog.begin_delete(document_id)
        if wait:
            await self.purge()
        elif self._purger is None or self._purger.done():
            self._purger = asyncio.get_running_loop().create_task(self.purge())
        return len(ids)

    async def purge(self) -> int:
        """Delete from the stores the chunks of every pending ``delete`` intent, one call per collection."""
        removed = 0
        async with self._purge_lock:
            while intents := [i for i in self.catalog.intents() if i.kind == "delete"]:
                by_collection: dict[str, list[str]] = {}
                for intent in intents:
                    by_collection.setdefault(intent.collection, []).extend(intent.chunk_ids)
                for collection, ids in by_collection.items():
                    await self._delete_chunks(collection, ids)
                for intent in intents:
                    self.catalog.finish(intent.document_id, "delete", intent.chunk_ids)
                removed += sum(len(i.chunk_ids) for i in intents)
        return removed

    async def drop_collection(self, name: str) -> None:
        """Remove a collection everywhere: store, keyword index, then the catalog."""
        await self.store.drop_collection(name)
        if self.keyword is not None:
            await self.keyword.drop_collection(name)
        self.catalog.drop_collection(name)

    async def sync_path(self, path: Path, collection: str, progress: ProgressFn | None = None) -> IngestReport:
        """Make the collection mirror ``path``: new and changed files indexed, vanished files removed."""
        report = await self.ingest_path(path, collection, progress)
        files, _ = walk(path)
        root = path if path.is_dir() else path.parent
        present = {f.relative_to(root).as_posix() for f in files}
        for record in self.catalog.documents(collection):
            if record.source not in present:
                await self.delete_document(collection, record.id, wait=False)
                report.removed.append(record.source)
        if report.removed:
            await self.purge()  # one batched delete for all the vanished files
        return report

    async def ingest_path(self, path: Path, collection: str, progress: ProgressFn | None = None) -> IngestReport:
        """Ingest a folder (recursively) or one file; sources are paths relative to ``path``."""
        files, skipped = walk(path)
        root = path if path.is_dir() else path.parent
        items = [(f.relative_to(root).as_posix(), f.read_bytes) for f in files]
        report = await self.ingest_items(items, collection, total=len(items), progress=progress)
        report.skipped = skipped
        return report


class RAG:
    """Answers questions over a collection: embed, search, generate, with timings."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        generator: Generator,
        catalog: Catalog,
        keyword: KeywordIndex | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator
        self.reranker = reranker
        self.catalog = catalog
        self.keyword = keyword
        self.ingestor = Ingestor(settings, embedder, store, catalog, keyword)
        # concurrent questions share one model call and one store call per batch
        self._embed_batch = Coalescer[str, str, np.ndarray](self._embed_questions)
        self._search_batch = Coalescer[tuple[str, int, MetadataFilter | None], np.ndarray, list[Hit]](self._search_vectors)
        self._ids_batch = Coalescer[tuple[str, int, MetadataFilter | None], np.ndarray, list[tuple[str, float]]](self._search_ids)
        self._get_batch = Coalescer[str, list[str], dict[str, Chunk]](self._get_chunks)
        self.ready = False

    async def start(self) -> None:
        """Load the model, open the store and LLM client, replay interrupted writes."""
        await self.embedder.start()
        await self.store.start()
        await self.generator.start()
        await self.ingestor.recover()
        await self.ingestor.backfill_keyword()
        self.ready = True

    async def close(self) -> None:
        """Release everything."""
        self.ready = False
        await self.generator.close()
        if self.reranker is not None:
            await self.reranker.close()
        await self.store.close()
        await self.embedder.close()

    async def _embed_questions(self, _key: str, questions: list[str]) -> list[np.ndarray]:
        vectors: Vectors = await self.embedder.embed_batch(questions, kind="query")
        return list(vectors)

    async def _search_vectors(self, key: tuple[str, int, MetadataFilter | None], vectors: list[np.ndarray]) -> list[list[Hit]]:
        collection, k, where = key
        return await self.store.search(collection, np.stack(vectors), k, where)

    async def _search_ids(self, key: tuple[str, int, MetadataFilter | None], vectors: list[np.ndarray]) -> list[list[tuple[str, float]]]:
        collection, k, where = key
        return await self.store.search_ids(collection, np.stack(vectors), k, where)

    async def _get_chunks(self, collection: str, id_lists: list[list[str]]) -> list[dict[str, Chunk]]:
        found = {c.id: c for c in await self.store.get(collection, list(dict.fromkeys(i for ids in id_lists for i in ids)))}
        return [{i: found[i] for i in ids if i in found} for ids in id_lists]

    def check_collection(self, name: str) -> None:
        """Raise ``CollectionNotFound`` with the known names as a hint."""
        if self.catalog.collection(name) is None:
            known = self.catalog.collections()
            raise CollectionNotFound(
                f"collection {name!r} does not exist",
                hint=f"known collections: {', '.join(known)}" if known else "ingest documents first: ragserve ingest PATH",
            )

    async def _dense(self, question: str, collection: str, k: int, where: MetadataFilter | None) -> list[Hit]:
        vector = await self._embed_batch.submit("q", question)
        if where is not None:
            return await filtered_search(self.store, self.keyword, collection, vector, k, where)
        return await self._search_batch.submit((collection, k, None), vector)

    async def retrieve(
        self, question: str, collection: str, k: int, where: MetadataFilter | None = None, mode: RetrievalMode | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks for the question: dense, keyword (BM25) or both fused.

        Only committed chunks are returned: while a document is being replaced, its new chunks are in
        the stores before the catalog swaps them in, and its old ones stay until after.
        """
        hits = await self._retrieve(question, collection, k, where, mode)
        live = self.catalog.committed([h.chunk.id for h in hits])
        return [h for h in hits if h.chunk.id in live] if len(live) < len(hits) else hits

    async def _retrieve(
        self, question: str, collection: str, k: int, where: MetadataFilter | None, mode: RetrievalMode | None
    ) -> list[Hit]:
        mode = mode or self.settings.retrieval.mode
        if mode != "dense" and self.keyword is None:
            if mode == "keyword":
                raise ConfigError("keyword search is off", hint="set RAGSERVE_RETRIEVAL__KEYWORD_INDEX=tantivy and re-ingest")
            mode = "dense"
        if mode == "dense":
            return await self._dense(question, collection, k, where)
        assert self.keyword is not None
        if mode == "keyword":
            return await self.keyword.search(collection, question, k, where)
        return await self._hybrid(question, collection, k, where)

    async def _hybrid(self, question: str, collection: str, k: int, where: MetadataFilter | None) -> list[Hit]:
        """Fuse ids and scores of both sides' candidates, then read only the ``k`` winners."""
        assert self.keyword is not None
        r = self.settings.retrieval
        depth = max(k, r.candidates)

        async def dense_ids() -> list[tuple[str, float]]:
            if where is not None:
                return [(h.chunk.id, h.score) for h in await self._dense(question, collection, depth, where)]
            vector = await self._embed_batch.submit("q", question)
            return await self._ids_batch.submit((collection, depth, None), vector)

        dense, keyword = await asyncio.gather(dense_ids(), self.keyword.search_ids(collection, question, depth, where))
        winners = fuse_ids(dense, keyword, k, method=r.fusion, weight=r.dense_weight)
        chunks = await self._get_batch.submit(collection, [cid for cid, _ in winners])
        return [Hit(chunks[cid], score) for cid, score in winners if cid in chunks]

    async def prepare(
        self,
        question: str,
        collection: str | None = None,
        k: int | None = None,
        filters: dict[str, object] | None = None,
        mode: RetrievalMode | None = None,
        history: Sequence[Turn] = (),
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> Prepared:
        """Everything before the answer: condense a follow-up, retrieve (and rerank), fit the context."""
        question = question.strip()
        if not question:
            raise EmptyQuery("the question is empty", hint='send {"question": "..."} with some text')
        name = collection or self.settings.default_collection
        self.check_collection(name)
        where = MetadataFilter.parse(filters)
        t0 = time.perf_counter()
        standalone, usage = await self.generator.condense(question, history) if history else (question, Usage())
        t1 = time.perf_counter()
        want = k or self.settings.top_k
        if self.reranker is None:
            hits = await self.retrieve(standalone, name, want, where, mode)
        else:
            candidates = await self.retrieve(standalone, name, max(want, self.settings.rerank.candidates), where, mode)
            hits = await self.reranker.rerank(standalone, candidates, want)
        hits, turns = self.generator.fit(standalone, hits, history, sampling)
        t2 = time.perf_counter()
        timings = {"retrieve_ms": (t2 - t1) * 1e3}
        if history:
            timings["condense_ms"] = (t1 - t0) * 1e3
        return Prepared(standalone, hits, turns, timings, usage, t0, sampling)

    def finish(
        self, prepared: Prepared, text: str, usage: Usage | None, mode: str | None = None, invalid: list[int] | None = None
    ) -> Answer:
        """The answer with its markers checked (invalid ones removed, unless ``invalid`` says it was done
        while streaming) and mapped to the spans they cite."""
        if invalid is None:
            text, invalid = clean(text, len(prepared.hits))
        timings = dict(prepared.timings)
        timings["total_ms"] = (time.perf_counter() - prepared.started) * 1e3
        timings["generate_ms"] = timings["total_ms"] - sum(prepared.timings.values())
        return Answer(
            text,
            cite(text, prepared.hits),
            prepared.hits,
            timings,
            mode or self.generator.mode,
            invalid,
            prepared.usage + (usage or Usage()),
            prepared.question,
        )

    async def query(
        self,
        question: str,
        collection: str | None = None,
        k: int | None = None,
        filters: dict[str, object] | None = None,
        mode: RetrievalMode | None = None,
        history: Sequence[Turn] = (),
        generate: bool = True,
        sampling: Sampling = DEFAULT_SAMPLING,
    ) -> Answer:
        """Answer a question with citations and sources (only the sources when ``generate`` is false)."""
        return await self.answer(await self.prepare(question, collection, k, filters, mode, history, sampling), generate)

    async def answer(self, prepared: Prepared, generate: bool = True) -> Answer:
        """Write the answer to a prepared question (or only return its sources)."""
        if not generate:
            return self.finish(prepared, "", None, mode="retrieval")
        text, usage = await self.generator.generate(prepared.question, prepared.hits, prepared.history, prepared.sampling)
        return self.finish(prepared, text, usage)

    async def stream(self, prepared: Prepared, generate: bool = True) -> AnswerLoop:
        """Open the answer's stream (connection errors are raised here); iterate ``deltas()`` of the
        result. Without ``generate`` the stream is empty and the answer has mode ``retrieval``."""
        if not generate:
            return AnswerLoop(self, prepared, ListStream([]), mode="retrieval")
        return AnswerLoop(
            self, prepared, await self.generator.stream(prepared.question, prepared.hits, prepared.history, prepared.sampling)
        )


@dataclass(slots=True)
class Prepared:
    """A question ready to be answered: the standalone question, the hits that fit, the turns kept."""

    question: str
    hits: list[Hit]
    history: list[Turn]
    timings: dict[str, float]
    usage: Usage
    started: float
    sampling: Sampling = DEFAULT_SAMPLING


class AnswerLoop:
    """Runs an answer stream through the citation check; ``answer`` is set when it ends."""

    def __init__(self, rag: RAG, prepared: Prepared, stream: AnswerStream, mode: str | None = None) -> None:
        self.rag = rag
        self.prepared = prepared
        self.stream = stream
        self.mode = mode or rag.generator.mode
        self.answer: Answer | None = None

    async def deltas(self) -> AsyncIterator[str]:
        """Checked text deltas; they add up to ``answer.text``."""
        markers = MarkerFilter(len(self.prepared.hits))
        parts: list[str] = []
        try:
            async for delta in self.stream:
                text = markers.feed(delta)
                if text:
                    parts.append(text)
                    yield text
            tail = markers.flush()
            if tail:
                parts.append(tail)
                yield tail
        finally:
            await self.stream.aclose()
        self.answer = self.rag.finish(self.prepared, "".join(parts), self.stream.usage, self.mode, markers.invalid)


def build_rag(
    settings: Settings, *, embedder: Embedder | None = None, store: VectorStore | None = None, generator: Generator | None = None
) -> RAG:
    """Wire the components named by the settings (or the ones given, for tests)."""
    from ragserve.backends import registry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return RAG(
        settings,
        embedder or registry.build_embedder(settings),
        store or registry.build_store(settings),
        generator or registry.build_generator(settings),
        Catalog(settings.data_dir / "catalog.sqlite3"),
        registry.build_keyword(settings),
        registry.build_reranker(settings),
    )
