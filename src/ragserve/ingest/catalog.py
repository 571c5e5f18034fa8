"""What is indexed: collections, documents (content hash, status, chunk ids) and pending intents.

The catalog is SQLite in the data directory (WAL mode; every change one transaction). It and the
vector store are kept consistent by a write-ahead intent protocol, so a process killed at any point
converges on restart (``Ingestor.recover``):

1. ``begin_replace`` records an ``upsert`` intent listing the new chunk ids, then the store is written.
2. ``commit_replace`` swaps the document's chunk rows, and turns the intent into a ``delete`` intent
   for the old ids that are gone, in one transaction. Then those ids are deleted from the store.
3. ``finish`` drops the intent.

Deleting a document only needs step 2's second half: ``begin_delete`` forgets it and leaves a
``delete`` intent; the chunks are removed from the stores later, in batches (``Ingestor.purge``).
Readers see only committed chunks, so a delete takes effect at once. A document has at most one intent
of each kind; chunk ids added to a pending ``delete`` intent are merged, never overwritten.

On restart, an ``upsert`` intent is rolled back (its ids not committed are deleted from the store) and a
``delete`` intent is rolled forward (its ids are deleted). Both are idempotent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    embedder TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    media_type TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    chunk_count INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL,
    UNIQUE (collection, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE TABLE IF NOT EXISTS intents (
    document_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('upsert', 'delete')),
    chunk_ids TEXT NOT NULL,
    PRIMARY KEY (document_id, kind)
);
"""


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """One row of the documents table."""

    id: str
    collection: str
    source: str
    content_hash: str
    media_type: str
    title: str
    status: str
    error: str
    chunk_count: int
    indexed_at: float | None


@dataclass(frozen=True, slots=True)
class Intent:
    """Store work that was started and must be finished or undone after a crash."""

    document_id: str
    collection: str
    kind: str
    chunk_ids: list[str]


class Catalog:
    """SQLite catalog; thread-safe (one connection behind a lock, each call short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # collections
    def ensure_collection(self, name: str, embedder: str, dimension: int, description: str = "") -> None:
        """Register a collection (no-op if it exists)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO collections VALUES (?, ?, ?, ?, ?)", (name, embedder, dimension, description, time.time()))

    def collection(self, name: str) -> tuple[str, int] | None:
        """(embedder, dimension) of a collection, or None."""
        rows = self._query("SELECT embedder, dimension FROM collections WHERE name = ?", (name,))
        return (str(rows[0][0]), int(rows[0][1])) if rows else None  # type: ignore[call-overload]

    def collection_info(self, name: str) -> dict[str, object] | None:
        """Description, model, creation time, document and chunk counts, last update of a collection."""
        rows = self._query(
            "SELECT c.embedder, c.dimension, c.description, c.created_at, COUNT(d.id), COALESCE(SUM(d.chunk_count), 0), "
            "MAX(d.indexed_at) FROM collections c LEFT JOIN documents d ON d.collection = c.name WHERE c.name = ? GROUP BY c.name",
            (name,),
        )
        if not rows:
            return None
        embedder, dimension, description, created, docs, chunks, updated = rows[0]
        return {
            "name": name,
            "embedder": embedder,
            "dimension": dimension,
            "description": description,
            "created_at": created,
            "documents": docs,
            "chunks": chunks,
            "updated_at": updated,
        }

    def documents_page(self, collection: str, offset: int, limit: int, status: str | None = None) -> tuple[int, list[DocumentRecord]]:
        """Total and one page of a collection's documents, by source."""
        where, args = "collection = ?", [collection]
        if status:
            where += " AND status = ?"
            args.append(status)
        total = int(self._query(f"SELECT COUNT(*) FROM documents WHERE {where}", tuple(args))[0][0])  # type: ignore[call-overload]
        rows = self._query(f"SELECT * FROM documents WHERE {where} ORDER BY source LIMIT ? OFFSET ?", (*args, limit, offset))
        return total, [DocumentRecord(*r) for r in rows]  # type: ignore[arg-type]

    def collections(self) -> list[str]:
        """Names of all collections."""
        return [str(r[0]) for r in self._query("SELECT name FROM collections ORDER BY name")]

    def drop_collection(self, name: str) -> None:
        """Forget a collection and its documents."""
        with self._tx() as db:
            db.execute("DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE collection = ?)", (name,))
            db.execute("DELETE FROM documents WHERE collection = ?", (name,))
            db.execute("DELETE FROM intents WHERE collection = ?", (name,))
            db.execute("DELETE FROM collections WHERE name = ?", (name,))

    # documents
    def document(self, document_id: str) -> DocumentRecord | None:
        """One document's record."""
        rows = self._query("SELECT * FROM documents WHERE id = ?", (document_id,))
        return DocumentRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def documents(self, collection: str) -> list[DocumentRecord]:
        """All documents of a collection, by source."""
        rows = self._query("SELECT * FROM documents WHERE collection = ? ORDER BY source", (collection,))
        return [DocumentRecord(*r) for r in rows]  # type: ignore[arg-type]

    def chunk_ids(self, document_id: str) -> list[str]:
        """Committed chunk ids of a document."""
        return [str(r[0]) for r in self._query("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]

    def committed(self, ids: list[str]) -> set[str]:
        """Which of these chunk ids are committed. The swap of a document's chunks is one transaction,
        so filtering hits by this set shows a reader the old version or the new one, never both or neither."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {str(r[0]) for r in self._query(f"SELECT id FROM chunks WHERE id IN ({marks})", tuple(ids))}

    def all_chunk_ids(self, collection: str) -> set[str]:
        """Committed chunk ids of a whole collection."""
        rows = self._query("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.collection = ?", (collection,))
        return {str(r[0]) for r in rows}

    def mark_failed(self, document_id: str, collection: str, source: str, content_hash: str, error: str) -> None:
        """Record that a document could not be indexed (its previous chunks, if any, stay)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO documents (id, collection, source, content_hash, status, error) VALUES (?, ?, ?, ?, 'failed', ?) "
                "ON CONFLICT (id) DO UPDATE SET status = 'failed', error = excluded.error",
                (document_id, collection, source, content_hash, error),
            )

    # in-flight statuses: queued, parsing, embedding (then indexed or failed)
    IN_FLIGHT = ("queued", "parsing", "embedding")

    def mark(self, collection: str, documents: list[tuple[str, str]], status: str) -> None:
        """Set an in-flight status on (document id, source) pairs; a new document gets a row, with no
        hash yet, so listings show it before it is indexed."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO documents (id, collection, source, content_hash, status) VALUES (?, ?, ?, '', ?) "
                "ON CONFLICT (id) DO UPDATE SET status = excluded.status",
                [(doc_id, collection, source, status) for doc_id, source in documents],
            )

    def settle(self, collection: str) -> int:
        """After an interrupted or cancelled ingestion: documents left in flight go back to ``indexed``
        if they have committed chunks (the old version is intact), else their rows are removed."""
        with self._tx() as db:
            marks = ",".join("?" * len(self.IN_FLIGHT))
            rows = db.execute(
                f"SELECT id, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) FROM documents d "
                f"WHERE collection = ? AND status IN ({marks})",
                (collection, *self.IN_FLIGHT),
            ).fetchall()
            for doc_id, chunks in rows:
                if chunks:
                    db.execute("UPDATE documents SET status = 'indexed' WHERE id = ?", (doc_id,))
                else:
                    db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return len(rows)

    # the intent protocol
    @staticmethod
    def _add_delete_intent(db: sqlite3.Connection, document_id: str, collection: str, ids: list[str]) -> list[str]:
        row = db.execute("SELECT chunk_ids FROM intents WHERE document_id = ? AND kind = 'delete'", (document_id,)).fetchone()
        merged = sorted(set(ids) | set(json.loads(row[0]) if row else []))
        db.execute("INSERT OR REPLACE INTO intents VALUES (?, ?, 'delete', ?)", (document_id, collection, json.dumps(merged)))
        return merged

    def begin_replace(self, document_id: str, collection: str, new_ids: list[str]) -> None:
        """Step 1: remember that these chunk ids are about to be written to the store."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO intents VALUES (?, ?, 'upsert', ?)", (document_id, collection, json.dumps(new_ids)))

    def commit_replace(self, record: DocumentRecord, new_ids: list[str]) -> list[str]:
        """Step 2: make ``new_ids`` the document's chunks; returns the old ids to delete from the store."""
        with self._tx() as db:
            old = {str(r[0]) for r in db.execute("SELECT id FROM chunks WHERE document_id = ?", (record.id,))}
            stale = sorted(old - set(new_ids))
            db.execute("DELETE FROM chunks WHERE document_id = ?", (record.id,))
            db.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?)", [(cid, record.id) for cid in new_ids])
            db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, 'indexed', '', ?, ?)",
                (
                    record.id,
                    record.collection,
                    record.source,
                    record.content_hash,
                    record.media_type,
                    record.title,
                    len(new_ids),
                    time.time(),
                ),
            )
            db.execute("DELETE FROM intents WHERE document_id = ? AND kind = 'upsert'", (record.id,))
            if stale:
                stale = self._add_delete_intent(db, record.id, record.collection, stale)
        return stale

    def begin_delete(self, document_id: str) -> list[str]:
        """Forget a document now and leave a ``delete`` intent for its chunks; returns their ids."""
        with self._tx() as db:
            row = db.execute("SELECT collection FROM documents WHERE id = ?", (document_id,)).fetchone()
            if row is None:
                return []
            ids = [str(r[0]) for r in db.execute("SELECT id FROM chunks WHERE document_id = ?", (document_id,))]
            db.execute("DELETE FROM chunks WHERE document_id = ?", (document_id,))
            db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            self._add_delete_intent(db, document_id, row[0], ids)
        return ids

    def finish(self, document_id: str, kind: str | None = None, done: list[str] | None = None) -> None:
        """Step 3: the store work of this document's intents (or of one kind) is done.

        With ``done``, a ``delete`` intent keeps the ids that were added to it meanwhile."""
        with self._tx() as db:
            if kind == "delete" and done is not None:
                row = db.execute("SELECT chunk_ids FROM intents WHERE document_id = ? AND kind = 'delete'", (document_id,)).fetchone()
                left = sorted(set(json.loads(row[0]) if row else []) - set(done))
                if left:
                    db.execute(
                        "UPDATE intents SET chunk_ids = ? WHERE document_id = ? AND kind = 'delete'", (json.dumps(left), document_id)
                    )
                    return
            if kind is None:
                db.execute("DELETE FROM intents WHERE document_id = ?", (document_id,))
            else:
                db.execute("DELETE FROM intents WHERE document_id = ? AND kind = ?", (document_id, kind))

    def intents(self) -> list[Intent]:
        """Unfinished intents (after a crash)."""
        rows = self._query("SELECT document_id, collection, kind, chunk_ids FROM intents")
        return [Intent(str(r[0]), str(r[1]), str(r[2]), json.loads(str(r[3]))) for r in rows]
