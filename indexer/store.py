"""The on-disk index: versioned directories of FAISS vectors, SQLite rows and a manifest.

Writing, switching and pruning versions; ``indexer.reader`` reads one.

Layout of an index root::

    index/
      current -> versions/20261122T101500Z-3f2a1c   (symlink, switched atomically)
      versions/<build_id>/manifest.json              (written last: its presence marks completion)
      versions/<build_id>/vectors.faiss
      versions/<build_id>/chunks.sqlite
      versions/<build_id>/sentences.npy              (float16 sentence vectors, row = sentences.id)
      versions/<build_id>/headlines.npy              (float16 title vectors, documents.headline)
      versions/<build_id>/lexical/                   (Tantivy BM25 index of chunk text)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.centrality import centrality
from indexer.choices import INDEX_TYPES
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import write_lexical
from indexer.models import Chunk, Document, SentenceSpan

# 3: BM25 in Tantivy (lexical/), no FTS5 tables; 4: sentence entities; 5: headline vectors
FORMAT_VERSION = 5
MANIFEST, VECTORS, DATABASE = "manifest.json", "vectors.faiss", "chunks.sqlite"
SENTENCE_VECTORS = "sentences.npy"
SENTENCE_CENTRALITY = "sentence_centrality.npy"
HEADLINE_VECTORS = "headlines.npy"
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
    text TEXT NOT NULL, content_hash TEXT NOT NULL,
    headline INTEGER NOT NULL UNIQUE  -- the row of its title's vector in headlines.npy
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
CREATE TABLE entities (
    sentence_id INTEGER NOT NULL REFERENCES sentences(id), label TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL  -- offsets in the document's cleaned text
);
CREATE INDEX entities_sentence ON entities(sentence_id);
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
    # Per document, in ``documents`` order, the embedding of its title.
    headline_vectors: np.ndarray
    # Per sentence, its named entities as (label, start, end) relative to the sentence's start;
    # None when the build recognised none (RAGQA_NER=off).
    sentence_entities: list[list[tuple[str, int, int]]] | None = None


def text_hash(text: str) -> str:
    """What stored vectors are keyed by: unchanged text is not embedded again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


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
        np.save(tmp / HEADLINE_VECTORS, np.asarray(data.headline_vectors, dtype=np.float16))
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
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (d.doc_id, d.title, d.source, d.url, d.site_name, d.author, d.published, d.path,
                 d.format, d.text, d.content_hash, i)
                for i, d in enumerate(data.documents)
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
        if data.sentence_entities is not None:
            db.executemany(
                "INSERT INTO entities VALUES (?,?,?,?)",
                (
                    (i, label, s.start + start, s.start + end)
                    for i, (s, found) in enumerate(
                        zip(data.sentences, data.sentence_entities, strict=True)
                    )
                    for label, start, end in found
                ),
            )
        db.commit()
    finally:
        db.close()
