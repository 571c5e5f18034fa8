"""BM25 keyword index with tantivy (Lucene-style, on disk, incremental add and delete).

One index folder per collection under ``<data_dir>/keyword/``. Chunks are stored whole (text and
metadata), so a keyword hit needs no second lookup. Questions are analysed with the same analyser as
the documents (lower-case, English stop words and stemming) and searched as a disjunction of terms; no
query syntax is parsed, so user text cannot inject operators or field names.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragserve.backends.stores.fields import chunk_fields, chunk_from_fields
from ragserve.core.errors import BackendUnavailable, CollectionNotFound, MissingDependency
from ragserve.core.types import Chunk, Hit, MetadataFilter

ANALYZER = "ragserve_en"
RAW_FIELDS = ("chunk_id", "document_id", "source")


def _tantivy() -> Any:
    try:
        import tantivy
    except ImportError as exc:
        raise MissingDependency("keyword search needs tantivy", hint="run: pip install 'ragserve[keyword]'") from exc
    return tantivy


class _Collection:
    """One tantivy index: its writer (single, behind a lock) and a searcher refreshed after commits."""

    def __init__(self, path: Path) -> None:
        tv = _tantivy()
        self.tv = tv
        builder = tv.SchemaBuilder()
        for name in RAW_FIELDS:
            builder.add_text_field(name, stored=True, tokenizer_name="raw")
        builder.add_text_field("body", stored=False, tokenizer_name=ANALYZER)
        builder.add_text_field("text", stored=True, tokenizer_name="raw", index_option="basic")
        builder.add_json_field("meta", stored=True, tokenizer_name="raw")
        self.schema = builder.build()
        path.mkdir(parents=True, exist_ok=True)
        self.index = tv.Index(self.schema, path=str(path), reuse=True)
        self.analyzer = (
            tv.TextAnalyzerBuilder(tv.Tokenizer.simple())
            .filter(tv.Filter.remove_long(40))
            .filter(tv.Filter.lowercase())
            .filter(tv.Filter.stopword("english"))
            .filter(tv.Filter.stemmer("english"))
            .build()
        )
        self.index.register_tokenizer(ANALYZER, self.analyzer)
        self.lock = threading.Lock()

    @contextmanager
    def writer(self) -> Iterator[Any]:
        """The index writer for one batch of changes, committed and released at the end.

        Tantivy allows one writer per index across processes, so it is held only while writing (a
        server and an ``ingest`` command can share a data directory); a busy lock is retried briefly.
        """
        with self.lock:
            for attempt in range(100):
                try:
                    writer = self.index.writer(heap_size=32_000_000, num_threads=1)
                    break
                except ValueError as exc:
                    if "LockBusy" not in str(exc) or attempt == 99:
                        raise BackendUnavailable(f"the keyword index is locked by another writer: {exc}") from exc
                    time.sleep(0.1)
            # a writer killed mid-commit (SIGKILL) leaves files the committed index does not use, and the
            # next commit may want the same names (FileAlreadyExists): remove them first
            writer.garbage_collect_files()
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                del writer  # dropping the writer releases the lock
        self.index.reload()

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        with self.writer() as writer:
            for chunk in chunks:
                fields = chunk_fields(chunk)
                writer.delete_documents_by_term("chunk_id", chunk.id)
                doc = self.tv.Document()
                doc.add_text("chunk_id", chunk.id)
                doc.add_text("document_id", chunk.document_id)
                doc.add_text("source", chunk.source)
                doc.add_text("body", chunk.embed_text)
                doc.add_text("text", chunk.text)
                doc.add_json("meta", json.dumps(fields))
                writer.add_document(doc)

    def delete(self, ids: Sequence[str]) -> None:
        with self.writer() as writer:
            for cid in ids:
                writer.delete_documents_by_term("chunk_id", cid)

    def _filter(self, where: MetadataFilter) -> Any:
        tv = self.tv
        clauses = []
        for name, values in where.conditions:
            field = name if name in RAW_FIELDS else f"meta.{name}"
            terms = [tv.Query.term_query(self.schema, field, v) for v in values]
            clauses.append((tv.Occur.Must, terms[0] if len(terms) == 1 else tv.Query.boolean_query([(tv.Occur.Should, t) for t in terms])))
        return clauses

    def _top(self, question: str, k: int, where: MetadataFilter | None) -> tuple[Any, list[tuple[float, Any]]]:
        tv = self.tv
        tokens = list(dict.fromkeys(self.analyzer.analyze(question)))
        searcher = self.index.searcher()
        if not tokens:
            return searcher, []
        terms = tv.Query.boolean_query([(tv.Occur.Should, tv.Query.term_query(self.schema, "body", t)) for t in tokens])
        query = tv.Query.boolean_query([(tv.Occur.Must, terms), *self._filter(where)]) if where else terms
        return searcher, searcher.search(query, limit=k).hits

    def count(self, where: MetadataFilter | None) -> int:
        searcher = self.index.searcher()
        if where is None:
            return int(searcher.num_docs)
        query = self.tv.Query.boolean_query(self._filter(where))
        return int(searcher.search(query, limit=1, count=True).count)  # limit=0 panics in tantivy

    def filter_ids(self, where: MetadataFilter, limit: int) -> list[str]:
        searcher = self.index.searcher()
        query = self.tv.Query.boolean_query(self._filter(where))
        return [searcher.doc(address).get_first("chunk_id") for _, address in searcher.search(query, limit=limit).hits]

    def search_ids(self, question: str, k: int, where: MetadataFilter | None) -> list[tuple[str, float]]:
        searcher, top = self._top(question, k, where)
        return [(searcher.doc(address).get_first("chunk_id"), float(score)) for score, address in top]

    def search(self, question: str, k: int, where: MetadataFilter | None) -> list[Hit]:
        searcher, top = self._top(question, k, where)
        hits = []
        for score, address in top:
            doc = searcher.doc(address)
            fields = doc.get_first("meta") or {}
            if isinstance(fields, str):
                fields = json.loads(fields)
            hits.append(Hit(chunk_from_fields(doc.get_first("chunk_id"), doc.get_first("text") or "", fields), float(score)))
        return hits

    def all_ids(self) -> set[str]:
        searcher = self.index.searcher()
        total = searcher.num_docs
        if not total:
            return set()
        found = searcher.search(self.tv.Query.all_query(), limit=total).hits
        return {searcher.doc(address).get_first("chunk_id") for _, address in found}


class TantivyKeywordIndex:
    """BM25 over chunks, one on-disk tantivy index per collection."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, _Collection] = {}
        self._lock = threading.Lock()

    def _get(self, name: str, create: bool = False) -> _Collection:
        with self._lock:
            col = self._open.get(name)
            if col is None:
                path = self.root / name
                if not create and not path.exists():
                    raise CollectionNotFound(f"collection {name!r} has no keyword index")
                col = self._open[name] = _Collection(path)
            return col

    async def create_collection(self, name: str) -> None:
        """Create the index folder if absent."""
        await asyncio.to_thread(self._get, name, True)

    async def drop_collection(self, name: str) -> None:
        """Remove the index and its files."""
        with self._lock:
            self._open.pop(name, None)
        await asyncio.to_thread(shutil.rmtree, self.root / name, True)

    async def upsert(self, collection: str, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks (by id), one commit."""
        if chunks:
            await asyncio.to_thread(self._get(collection, True).upsert, chunks)

    async def delete(self, collection: str, ids: Sequence[str]) -> None:
        """Delete chunks by id; absent ids are ignored."""
        if ids:
            await asyncio.to_thread(self._get(collection, True).delete, ids)

    async def search(self, collection: str, question: str, k: int, where: MetadataFilter | None = None) -> list[Hit]:
        """The ``k`` best chunks by BM25."""
        return await asyncio.to_thread(self._get(collection).search, question, k, where)

    async def search_ids(self, collection: str, question: str, k: int, where: MetadataFilter | None = None) -> list[tuple[str, float]]:
        """Ids and BM25 scores of the ``k`` best chunks."""
        return await asyncio.to_thread(self._get(collection).search_ids, question, k, where)

    async def count(self, collection: str, where: MetadataFilter | None = None) -> int:
        """Chunks matching ``where`` (all without it)."""
        return await asyncio.to_thread(self._get(collection).count, where)

    async def filter_ids(self, collection: str, where: MetadataFilter, limit: int) -> list[str]:
        """Ids of up to ``limit`` chunks matching ``where``."""
        return await asyncio.to_thread(self._get(collection).filter_ids, where, limit)

    async def all_ids(self, collection: str) -> set[str]:
        """Every chunk id (for consistency checks)."""
        return await asyncio.to_thread(self._get(collection).all_ids)
