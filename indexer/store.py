"""The on-disk index: versioned directories of FAISS vectors, SQLite rows and a manifest.

Layout of an index root::

    index/
      current -> versions/20261122T101500Z-3f2a1c   (symlink, switched atomically)
      versions/<build_id>/manifest.json              (written last: its presence marks completion)
      versions/<build_id>/vectors.faiss
      versions/<build_id>/chunks.sqlite
      versions/<build_id>/sentences.npy              (float16 sentence vectors, row = sentences.id)
      versions/<build_id>/lexical/                   (Tantivy BM25 index of chunk text)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.centrality import centrality
from indexer.choices import INDEX_TYPES
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import LexicalIndex, write_lexical
from indexer.models import Chunk, Document, SentenceSpan

FORMAT_VERSION = 3  # 3: BM25 in Tantivy (lexical/), no FTS5 tables
MANIFEST, VECTORS, DATABASE = "manifest.json", "vectors.faiss", "chunks.sqlite"
SENTENCE_VECTORS = "sentences.npy"
SENTENCE_CENTRALITY = "sentence_centrality.npy"
LEXICAL = "lexical"
# Exact passage vectors, kept beside an approximate index so rebuilds can reuse them losslessly.
PASSAGE_VECTORS = "passages.npy"
# Exact search reads every vector per query (about 40 ms at 100,000 here): IVF from 25,000, the
# smallest size whose training sample has the 39 vectors per list FAISS asks for.
IVF_THRESHOLD = 25_000

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT NOT NULL, url TEXT,
    site_name TEXT, author TEXT, published TEXT, path TEXT NOT NULL, format TEXT NOT NULL,
    text TEXT NOT NULL, content_hash TEXT NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,  -- the row number in the FAISS index
    chunk_id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL, text_hash TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id, position);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY,  -- the row in sentences.npy
    doc_id TEXT NOT NULL REFERENCES documents(doc_id), start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, text_hash TEXT NOT NULL
);
CREATE INDEX sentences_doc ON sentences(doc_id, start);
"""


@dataclass(frozen=True)
class VersionData:
    """Everything one index version holds, as the build hands it to the store."""

    documents: list[Document]
    chunks: list[Chunk]
    chunk_hashes: list[str]
    vectors: np.ndarray
    sentences: list[SentenceSpan]
    sentence_hashes: list[str]
    sentence_vectors: np.ndarray


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


def versions_dir(root: Path) -> Path:
    return root / "versions"


def resolve_version(path: Path) -> Path:
    """The version directory an index path designates: itself, or its ``current`` target."""
    if (path / MANIFEST).is_file():
        return path
    current = path / "current"
    if current.exists() and (current / MANIFEST).is_file():
        return current.resolve()
    raise IndexNotFoundError(
        f"no index at {path}; build one with `ragqa index --source DIR --out {path}`"
    )


def read_manifest(version_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((version_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"cannot read {version_dir / MANIFEST}: {e}") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"index {version_dir} has format {manifest.get('format_version')}, this ragqa reads "
            f"format {FORMAT_VERSION}; rebuild it with `ragqa index --full`"
        )
    return manifest


def current_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the version being served, or None when there is none or it is unreadable."""
    try:
        return read_manifest(resolve_version(root))
    except (IndexNotFoundError, IndexCorruptError):
        return None


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the index root so two builds never interleave."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise IndexCorruptError(f"another build is running on {root}; wait for it") from e
        # Leftovers of builds that were killed half-way; safe to remove under the lock.
        for stale in versions_dir(root).glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def choose_index_type(n: int, requested: str = "auto", threshold: int = IVF_THRESHOLD) -> str:
    """Exact search while it is fast enough; an inverted file with 8-bit codes beyond."""
    if requested not in INDEX_TYPES:
        names = f"{', '.join(INDEX_TYPES[:-1])} or {INDEX_TYPES[-1]}"
        raise ValueError(f"index type must be {names}, got {requested!r}")
    if requested != "auto":
        return requested
    return "ivf" if n >= threshold else "flat"


def make_vector_index(vectors: np.ndarray, kind: str) -> Any:
    """A FAISS inner-product index over unit vectors: ``flat`` (exact) or ``ivf`` (IVF-SQ8)."""
    import faiss

    n, dim = vectors.shape
    index: Any
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    # About 4·sqrt(n) lists, trained on up to 40 vectors per list: FAISS's own guidance.
    nlist = int(min(65536, max(16, 4 * np.sqrt(n))))
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )  # fmt: skip
    sample = np.random.default_rng(0).choice(n, size=min(n, nlist * 40), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    return index


def write_version(root: Path, manifest: dict[str, Any], data: VersionData) -> Path:
    """Write a complete version into a temporary directory, then rename it into place."""
    import faiss

    versions = versions_dir(root)
    versions.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{manifest['build_id']}-", dir=versions))
    try:
        kind = manifest["vectors"]["faiss_index"]
        faiss.write_index(make_vector_index(data.vectors, kind), str(tmp / VECTORS))
        if kind != "flat":
            np.save(tmp / PASSAGE_VECTORS, data.vectors)
        stored = np.asarray(data.sentence_vectors, dtype=np.float16)  # no copy when it is already
        np.save(tmp / SENTENCE_VECTORS, stored)
        # From the float16 vectors as stored, so it equals what a reader would compute from them.
        np.save(tmp / SENTENCE_CENTRALITY, centrality(stored))
        _write_database(tmp / DATABASE, data)
        write_lexical(tmp / LEXICAL, (c.text for c in data.chunks))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server may run as another user
        final = versions / manifest["build_id"]
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def switch_current(root: Path, version_dir: Path) -> None:
    """Point ``root/current`` at ``version_dir`` with one atomic rename."""
    link = root / f".current-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(version_dir.relative_to(root))
    os.replace(link, root / "current")


def list_versions(root: Path) -> list[tuple[str, bool, dict[str, Any] | None]]:
    """(version, is current, manifest or None if unreadable), newest first."""
    folder = versions_dir(root)
    if not folder.is_dir():
        return []
    current = (root / "current").resolve() if (root / "current").exists() else None
    out = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name, reverse=True):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            manifest: dict[str, Any] | None = read_manifest(path)
        except IndexCorruptError:
            manifest = None
        out.append((path.name, path.resolve() == current, manifest))
    return out


def rollback(root: Path, version: str | None = None) -> str:
    """Make ``version`` (default: the newest one older than current) current, if it loads."""
    rows = list_versions(root)
    names = [name for name, _, _ in rows]
    if version is None:
        current = next((i for i, (_, is_current, _) in enumerate(rows) if is_current), None)
        older = [name for name, _, m in rows[(current or 0) + 1 :] if m is not None]
        if current is None or not older:
            raise IndexNotFoundError(f"no earlier version in {root} to roll back to")
        version = older[0]
    if version not in names:
        raise IndexNotFoundError(f"no version {version!r} in {root}; `ragqa versions` lists them")
    target = versions_dir(root) / version
    IndexReader(target).close()  # refuse a version that would not load
    switch_current(root, target)
    return version


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` versions, never the current one."""
    current = (root / "current").resolve()
    versions = sorted(
        (p for p in versions_dir(root).iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    removed = []
    for old in versions[: max(0, len(versions) - keep)]:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
    return removed


def _write_database(path: Path, data: VersionData) -> None:
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (d.doc_id, d.title, d.source, d.url, d.site_name, d.author, d.published, d.path,
                 d.format, d.text, d.content_hash)
                for d in data.documents
            ],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (i, c.chunk_id, c.doc_id, c.position, c.start, c.end, c.n_tokens, h, c.text)
                for i, (c, h) in enumerate(zip(data.chunks, data.chunk_hashes, strict=True))
            ],
        )
        db.executemany(
            "INSERT INTO sentences VALUES (?,?,?,?,?)",
            [
                (i, s.doc_id, s.start, s.end, h)
                for i, (s, h) in enumerate(zip(data.sentences, data.sentence_hashes, strict=True))
            ],
        )
        db.commit()
    finally:
        db.close()


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
        # Opened up front, never reopened: a request still running on this version keeps working
        # after a newer build prunes the directory (open files outlive their unlinking).
        self._connections = [self._connect() for _ in range(connections)]
        count = self.db().execute("SELECT count(*) FROM chunks").fetchone()[0]
        if count != self.vectors.ntotal:
            raise IndexCorruptError(
                f"index {self.path} has {self.vectors.ntotal} vectors but {count} chunks; "
                "rebuild it with `ragqa index --full`"
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
        clauses, params = [], []
        if filters.doc_ids:
            clauses.append(f"d.doc_id IN ({','.join('?' * len(filters.doc_ids))})")
            params.extend(filters.doc_ids)
        if filters.published_after:
            clauses.append("d.published >= ?")
            params.append(filters.published_after.isoformat())
        if filters.published_before:
            clauses.append("d.published <= ?")
            params.append(filters.published_before.isoformat())
        if filters.source_contains:
            clauses.append("instr(lower(d.source), lower(?)) > 0")
            params.append(filters.source_contains)
        where = " AND ".join(clauses) or "1"
        rows = self.db().execute(
            f"SELECT c.id FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", params
        )
        return {int(r[0]) for r in rows}

    def chunks(self, ids: Iterable[int]) -> dict[int, ChunkRow]:
        wanted = [int(i) for i in ids if int(i) >= 0]
        if not wanted:
            return {}
        rows = self.db().execute(
            'SELECT c.id, c.chunk_id, c.doc_id, c.position, c.start, c."end", c.text,'
            " d.title, d.source, d.published FROM chunks c JOIN documents d USING (doc_id)"
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
        return out

    def close(self) -> None:
        for db in self._connections:
            db.close()
