"""Read access to one index version: vectors, rows, sentence vectors, lexical index."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import IndexCorruptError
from indexer.lexical import LexicalIndex
from indexer.store import (
    DATABASE,
    HEADLINE_VECTORS,
    LEXICAL,
    PASSAGE_VECTORS,
    SENTENCE_CENTRALITY,
    SENTENCE_VECTORS,
    VECTORS,
    read_manifest,
    resolve_version,
    text_hash,
)


@dataclass(frozen=True)
class ChunkRow:
    id: int
    chunk_id: str
    doc_id: str
    position: int
    start: int
    end: int
    text: str
    title: str
    source: str
    published: str | None
    headline: int  # the row of its document's title vector in ``IndexReader.headline_vectors``


class IndexReader:
    """Read access to one index version; safe to share between threads."""

    def __init__(self, path: Path, connections: int = 4, nprobe: int = 32) -> None:
        import faiss

        if sqlite3.threadsafety != 3:  # pragma: no cover - depends on how Python was built
            # The connections below are shared between threads, which needs serialized mode.
            raise IndexCorruptError(
                "this Python's sqlite3 is not in serialized mode (sqlite3.threadsafety is "
                f"{sqlite3.threadsafety}, ragqa needs 3); use a Python with a threadsafe SQLite"
            )
        self.path = resolve_version(path)
        self.manifest = read_manifest(self.path)
        self.nprobe = nprobe
        try:
            # Memory-mapped: pages are read on demand and shared between processes.
            self.vectors = faiss.read_index(str(self.path / VECTORS), faiss.IO_FLAG_MMAP)
        except RuntimeError as e:
            raise IndexCorruptError(f"cannot read {self.path / VECTORS}: {e}") from e
        try:
            self.sentence_vectors = np.load(self.path / SENTENCE_VECTORS, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise IndexCorruptError(f"cannot read {self.path / SENTENCE_VECTORS}: {e}") from e
        # Each sentence's centrality (see indexer.centrality), written by builds since it was
        # stored; None for an older version, whose readers compute it when they open it.
        self.sentence_centrality: np.ndarray | None = None
        if (self.path / SENTENCE_CENTRALITY).is_file():
            try:
                self.sentence_centrality = np.load(self.path / SENTENCE_CENTRALITY, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise IndexCorruptError(
                    f"cannot read {self.path / SENTENCE_CENTRALITY}: {e}"
                ) from e
            if len(self.sentence_centrality) != len(self.sentence_vectors):
                raise IndexCorruptError(
                    f"index {self.path} has {len(self.sentence_vectors)} sentence vectors but "
                    f"{len(self.sentence_centrality)} centrality values; rebuild it with "
                    "`ragqa index --full`"
                )
        try:
            # Each document's title embedded, row = documents.headline.
            self.headline_vectors = np.load(self.path / HEADLINE_VECTORS, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise IndexCorruptError(f"cannot read {self.path / HEADLINE_VECTORS}: {e}") from e
        # Opened up front, never reopened: a request still running on this version keeps working
        # after a newer build prunes the directory (open files outlive their unlinking).
        self._connections = [self._connect() for _ in range(connections)]
        count = self.db().execute("SELECT count(*) FROM chunks").fetchone()[0]
        if count != self.vectors.ntotal:
            raise IndexCorruptError(
                f"index {self.path} has {self.vectors.ntotal} vectors but {count} chunks; "
                "rebuild it with `ragqa index --full`"
            )
        # Rows are 0..documents-1 (UNIQUE): the largest, read from its index, says both.
        last = self.db().execute("SELECT max(headline) FROM documents").fetchone()[0]
        documents = 0 if last is None else last + 1
        if documents != len(self.headline_vectors):
            raise IndexCorruptError(
                f"index {self.path} has {documents} documents but {len(self.headline_vectors)} "
                "headline vectors; rebuild it with `ragqa index --full`"
            )
        self.lexical = LexicalIndex(self.path / LEXICAL)
        if self.lexical.passages != count:
            raise IndexCorruptError(
                f"index {self.path} has {count} chunks but {self.lexical.passages} in its "
                "lexical index; rebuild it with `ragqa index --full`"
            )

    @property
    def version(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def built_at(self) -> str:
        return str(self.manifest["built_at"])

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{self.path / DATABASE}?mode=ro"
        try:
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.execute("SELECT 1 FROM documents LIMIT 1")
        except sqlite3.Error as e:
            raise IndexCorruptError(f"cannot read {self.path / DATABASE}: {e}") from e
        db.row_factory = sqlite3.Row
        return db

    def db(self) -> sqlite3.Connection:
        """A connection for the calling thread (SQLite is in serialized mode: sharing is safe)."""
        return self._connections[threading.get_ident() % len(self._connections)]

    def search(
        self, queries: np.ndarray, k: int, allowed: set[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product search: (scores, ids), each of shape (len(queries), k); id -1 pads."""
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        ivf = isinstance(self.vectors, faiss.IndexIVF)
        if allowed is None and not ivf:
            return self.vectors.search(queries, k)
        options: dict[str, Any] = {}
        if allowed is not None:
            options["sel"] = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
        params: Any
        if ivf:
            params = faiss.SearchParametersIVF(nprobe=self.nprobe, **options)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParameters(**options)
        return self.vectors.search(queries, k, params=params)

    def chunk_ids_matching(self, filters: Any) -> set[int]:
        """Ids of the chunks whose document passes ``filters`` (a ``service.schemas.Filters``)."""
        where, params = _document_filter(filters)
        rows = self.db().execute(
            f"SELECT c.id FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", params
        )
        return {int(r[0]) for r in rows}

    def documents(
        self, filters: Any, title_contains: str | None, after: str | None, limit: int
    ) -> list[sqlite3.Row]:
        """One page of the documents passing ``filters`` (and with ``title_contains`` in the
        title), in doc_id order, starting after the doc_id ``after``: doc_id, title, source,
        published, length."""
        return documents_page(self.db(), filters, title_contains, after, limit)

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        wanted = [int(i) for i in ids if int(i) >= 0]
        if not wanted:
            return {}
        rows = self.db().execute(
            'SELECT c.id, c.chunk_id, c.doc_id, c.position, c.start, c."end", c.text,'
            " d.title, d.source, d.published, d.headline"
            " FROM chunks c JOIN documents d USING (doc_id)"
            f" WHERE c.id IN ({','.join('?' * len(wanted))})",
            wanted,
        )
        return {row["id"]: ChunkRow(*row) for row in rows}

    def document(self, doc_id: str) -> sqlite3.Row | None:
        return (
            self.db()
            .execute(
                "SELECT doc_id, title, source, url, site_name, author, published, text"
                " FROM documents WHERE doc_id = ?",
                (doc_id,),
            )
            .fetchone()
        )

    def sentences(self, chunks: Iterable[ChunkRow]) -> dict[int, list[tuple[int, int, int]]]:
        """For each chunk id, its sentences as (sentence id, start, end), in document order."""
        wanted = list(chunks)
        out: dict[int, list[tuple[int, int, int]]] = {c.id: [] for c in wanted}
        if not wanted:
            return out
        # One statement for all the chunks: each is a (doc_id, start, end) range of the index.
        rows = self.db().execute(
            f"WITH c(id, doc_id, start, stop) AS (VALUES {','.join(['(?,?,?,?)'] * len(wanted))})"
            ' SELECT c.id, s.id, s.start, s."end" FROM c JOIN sentences s ON s.doc_id = c.doc_id'
            ' AND s.start >= c.start AND s."end" <= c.stop ORDER BY c.id, s.start',
            [v for c in wanted for v in (c.id, c.doc_id, c.start, c.end)],
        )
        for chunk_id, sid, start, end in rows:
            out[chunk_id].append((sid, start, end))
        return out

    @property
    def has_entities(self) -> bool:
        """Whether the build recognised named entities (an index built with RAGQA_NER=off has
        none)."""
        return self.manifest.get("entities") is not None

    def entities(self, sentence_ids: Iterable[int]) -> dict[int, list[tuple[str, int, int]]]:
        """For each sentence id, its entities as (label, start, end) in document offsets."""
        wanted = sorted({int(i) for i in sentence_ids})
        out: dict[int, list[tuple[str, int, int]]] = {i: [] for i in wanted}
        if not wanted:
            return out
        rows = self.db().execute(
            'SELECT sentence_id, label, start, "end" FROM entities'
            f" WHERE sentence_id IN ({','.join('?' * len(wanted))}) ORDER BY sentence_id, start",
            wanted,
        )
        for sid, label, start, end in rows:
            out[sid].append((label, start, end))
        return out

    def entities_by_hash(self) -> dict[str, list[tuple[str, int, int]]]:
        """Stored entities keyed by sentence text hash, offsets relative to the sentence, so
        unchanged sentences are not recognised again."""
        db = self.db()
        hash_of: dict[int, str] = {}
        out: dict[str, list[tuple[str, int, int]]] = {}
        for sid, digest in db.execute("SELECT id, text_hash FROM sentences ORDER BY id"):
            if digest not in out:  # the same text twice: its first sentence speaks for both
                out[digest] = []
                hash_of[sid] = digest
        rows = db.execute(
            'SELECT e.sentence_id, e.label, e.start - s.start, e."end" - s.start FROM entities e'
            " JOIN sentences s ON s.id = e.sentence_id ORDER BY e.sentence_id, e.start"
        )
        for sid, label, start, end in rows:
            if sid in hash_of:
                out[hash_of[sid]].append((label, start, end))
        return out

    def document_hashes(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db().execute("SELECT doc_id, content_hash FROM documents")}

    def vectors_by_hash(self) -> dict[str, np.ndarray]:
        """Stored embeddings keyed by input-text hash, so unchanged text is not embedded again."""
        db = self.db()
        out: dict[str, np.ndarray] = {}
        rows = db.execute("SELECT id, text_hash FROM chunks").fetchall()
        if rows:
            exact = self.path / PASSAGE_VECTORS
            matrix = (
                np.load(exact, mmap_mode="r")
                if exact.is_file()
                else self.vectors.reconstruct_n(0, self.vectors.ntotal)
            )
            out.update((row["text_hash"], matrix[row["id"]]) for row in rows)
        sentence_matrix = np.asarray(self.sentence_vectors, dtype=np.float32)
        for row in db.execute("SELECT id, text_hash FROM sentences"):
            out[row["text_hash"]] = sentence_matrix[row["id"]]
        headline_matrix = np.asarray(self.headline_vectors, dtype=np.float32)
        for row in db.execute("SELECT headline, title FROM documents"):
            out.setdefault(text_hash(row["title"]), headline_matrix[row["headline"]])
        return out

    def close(self) -> None:
        for db in self._connections:
            db.close()


def documents_page(
    db: sqlite3.Connection, filters: Any, title_contains: str | None, after: str | None, limit: int
) -> list[sqlite3.Row]:
    """Keyset paging on the primary key: a page costs the rows read to fill it, wherever it is."""
    where, params = _document_filter(filters, title_contains)
    if after is not None:
        where += " AND d.doc_id > ?"
        params.append(after)
    return db.execute(
        "SELECT d.doc_id, d.title, d.source, d.published, length(d.text) AS length"
        f" FROM documents d WHERE {where} ORDER BY d.doc_id LIMIT ?",
        [*params, limit],
    ).fetchall()


def _document_filter(filters: Any, title_contains: str | None = None) -> tuple[str, list[Any]]:
    """A WHERE clause on ``documents d`` for ``filters`` (a ``service.schemas.Filters`` or None)."""
    clauses, params = ["1"], []
    if filters is not None and filters.doc_ids:
        clauses.append(f"d.doc_id IN ({','.join('?' * len(filters.doc_ids))})")
        params.extend(filters.doc_ids)
    if filters is not None and filters.published_after:
        clauses.append("d.published >= ?")
        params.append(filters.published_after.isoformat())
    if filters is not None and filters.published_before:
        clauses.append("d.published <= ?")
        params.append(filters.published_before.isoformat())
    if filters is not None and filters.source_contains:
        clauses.append("instr(lower(d.source), lower(?)) > 0")
        params.append(filters.source_contains)
    if title_contains:
        clauses.append("instr(lower(d.title), lower(?)) > 0")
        params.append(title_contains)
    return " AND ".join(clauses), params
