"""Index builds: manifest, versions, atomic switch, reuse of unchanged embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from indexer.build import build_index, embedding_input
from indexer.chunk import ChunkerSettings
from indexer.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, SourceError
from indexer.freshness import is_fresh
from indexer.reader import IndexReader
from indexer.store import resolve_version
from service.qa.retrieval import Retriever
from tests.conftest import SEEDS


def test_manifest_describes_the_build(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((seed_index / "current" / "manifest.json").read_text())
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["model"]["dimension"] == 384 == embedder.dimension
    assert manifest["model"]["precision"] == embedder.corpus_precision
    assert manifest["chunker"]["max_tokens"] == 192
    assert manifest["counts"]["documents"] == 5
    assert manifest["counts"]["chunks"] == IndexReader(seed_index).vectors.ntotal
    assert manifest["built_at"].endswith("Z") and manifest["package_version"]
    assert len(manifest["corpus"]["fingerprint"]) == 64
    assert (seed_index / "current").is_symlink()


def test_index_is_stale_after_a_pipeline_change(
    seed_index: Path,
    embedder,
    entities,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    chunker = ChunkerSettings()
    assert is_fresh(SEEDS, seed_index, embedder.name, chunker, entity_model=entities.name)
    # Built with entities: an index without them (or with another model) is wanted now.
    assert not is_fresh(SEEDS, seed_index, embedder.name, chunker)
    monkeypatch.setattr("indexer.freshness.PIPELINE_VERSION", 10**6)
    assert not is_fresh(SEEDS, seed_index, embedder.name, chunker, entity_model=entities.name)


def test_rebuild_reuses_unchanged_embeddings(corpus: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "idx"
    first = build_index(corpus, out, embedder)
    assert first.embedded == first.chunks and first.reused == 0
    assert is_fresh(corpus, out, embedder.name, ChunkerSettings())
    (corpus / "005_new.txt").write_text("Fresh Headline\n\nA brand new story about tides.", "utf-8")
    assert not is_fresh(corpus, out, embedder.name, ChunkerSettings())
    second = build_index(corpus, out, embedder)
    assert second.documents == 6 and second.embedded == 1 and second.reused == first.chunks
    assert second.version != first.version
    assert resolve_version(out).name == second.version
    full = build_index(corpus, out, embedder, full=True)
    assert full.embedded == full.chunks


def test_old_versions_are_pruned(corpus: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "idx"
    versions = [build_index(corpus, out, embedder, keep=2).version for _ in range(3)]
    assert sorted(p.name for p in (out / "versions").iterdir()) == versions[1:]


def test_failed_build_leaves_the_served_index_untouched(
    corpus: Path,
    tmp_path: Path,
    embedder,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "idx"
    good = build_index(corpus, out, embedder)
    import faiss

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", crash)
    (corpus / "005_new.txt").write_text("New\n\nSomething changed here.", "utf-8")
    with pytest.raises(OSError, match="disk full"):
        build_index(corpus, out, embedder)
    assert resolve_version(out).name == good.version
    assert [p.name for p in (out / "versions").iterdir()] == [good.version]  # no half-built dir
    assert Retriever.open(out, embedder).search("Tworek", 1)


def test_source_without_indexable_documents_fails_cleanly(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("Skip to main content\nShare it", "utf-8")
    with pytest.raises(SourceError, match=r"no indexable documents .*a.txt: no article text left"):
        build_index(src, tmp_path / "idx", embedder)
    assert not (tmp_path / "idx" / "current").exists()


def test_missing_index_is_reported_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match=r"no index at .*; build one with `ragqa index"):
        IndexReader(tmp_path / "nowhere")


def test_index_from_another_model_is_refused(seed_index: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "copy"
    shutil.copytree(resolve_version(seed_index), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["model"]["name"] = "someone/other-model"
    manifest["model"]["dimension"] = 768
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        IndexMismatchError,
        match=r"built with model someone/other-model \(768 dims\).*rebuild it with `ragqa index --full",
    ):
        Retriever.open(copy, embedder)
    manifest["model"].update(name=embedder.name, dimension=384, probe=[0.0] * 383 + [1.0])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match=r"different weights"):
        Retriever.open(copy, embedder)


def test_every_file_of_a_version_is_readable_by_other_users(seed_index: Path) -> None:
    """The image builds its index as root and serves it as the ragqa user."""
    version = resolve_version(seed_index)
    files = [p for p in version.rglob("*") if p.is_file()]
    assert any(p.parent.name == "lexical" for p in files)
    unreadable = [str(p.relative_to(version)) for p in files if not p.stat().st_mode & 0o004]
    assert not unreadable
    # A Tantivy reader locks by opening its lock file for writing.
    locks = [p for p in files if p.suffix == ".lock"]
    assert locks and all(p.stat().st_mode & 0o002 for p in locks)
    dirs = [version, *(p for p in version.rglob("*") if p.is_dir())]
    assert all(p.stat().st_mode & 0o005 == 0o005 for p in dirs)


def test_corrupt_index_is_refused(seed_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(resolve_version(seed_index), copy)
    (copy / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match=r"cannot read .*vectors.faiss"):
        IndexReader(copy)
    (copy / "manifest.json").write_text("{")
    with pytest.raises(IndexCorruptError, match=r"cannot read .*manifest.json"):
        IndexReader(copy)


def test_missing_or_mismatched_lexical_index_is_refused(seed_index: Path, tmp_path: Path) -> None:
    from indexer.lexical import write_lexical
    from indexer.store import LEXICAL

    copy = tmp_path / "copy"
    shutil.copytree(resolve_version(seed_index), copy)
    shutil.rmtree(copy / LEXICAL)
    with pytest.raises(IndexCorruptError, match=r"cannot read the lexical index"):
        IndexReader(copy)
    write_lexical(copy / LEXICAL, ["one passage only"])
    with pytest.raises(IndexCorruptError, match=r"but 1 in its lexical index"):
        IndexReader(copy)


def test_embedding_input_adds_the_headline_once() -> None:
    assert embedding_input("Tides", "The moon pulls the sea.") == "Tides\nThe moon pulls the sea."
    assert embedding_input("Tides", "Tides\n\nThe moon pulls.") == "Tides\n\nThe moon pulls."
    # An untitled document is titled by its opening words: its first passage already starts so.
    opening = "In the high-stakes world of AI, talent is the scarcest resource of all…"
    first = "In the high-stakes world of AI, talent is the scarcest resource of all today."
    assert embedding_input(opening, first) == first
    assert embedding_input(opening, "Later text.") == f"{opening}\nLater text."


def test_centrality_is_stored_at_build_and_equals_what_a_reader_would_compute(
    seed_index: Path, tmp_path: Path
) -> None:
    import numpy as np

    from indexer.centrality import centrality
    from indexer.store import SENTENCE_CENTRALITY
    from service.qa.extract import SentenceScorer

    reader = IndexReader(seed_index)
    assert reader.sentence_centrality is not None
    computed = centrality(reader.sentence_vectors)
    np.testing.assert_array_equal(np.asarray(reader.sentence_centrality), computed)
    # The scorer takes the stored values; it reads no sentence vector to get them.
    assert SentenceScorer(reader).centrality is reader.sentence_centrality
    # A version built before centrality was stored: computed when opened, same values.
    old = tmp_path / "old"
    shutil.copytree(resolve_version(seed_index), old)
    (old / SENTENCE_CENTRALITY).unlink()
    legacy = IndexReader(old)
    assert legacy.sentence_centrality is None
    np.testing.assert_array_equal(SentenceScorer(legacy).centrality, computed)
    # A stored file that does not match the sentences is refused.
    np.save(old / SENTENCE_CENTRALITY, computed[:-1])
    with pytest.raises(IndexCorruptError, match="centrality values"):
        IndexReader(old)


def test_each_documents_headline_is_embedded_once_and_read_by_its_passages(
    seed_index: Path, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from indexer.store import HEADLINE_VECTORS

    reader = IndexReader(seed_index)
    rows = reader.db().execute("SELECT doc_id, title, headline FROM documents").fetchall()
    assert (
        sorted(r["headline"] for r in rows)
        == list(range(len(rows)))
        == list(range(len(reader.headline_vectors)))
    )
    # Each row is its title's embedding (stored in float16, embedded in a batch of other text).
    titles = embedder.encode_corpus([r["title"] for r in rows])
    stored = np.asarray(reader.headline_vectors, np.float32)[[r["headline"] for r in rows]]
    assert float(np.sum(stored * titles, axis=1).min()) >= 0.99
    # Each passage knows its document's row.
    row_of = {r["doc_id"]: r["headline"] for r in rows}
    chunks = reader.chunks(range(reader.vectors.ntotal))
    assert {c.doc_id for c in chunks.values()} == set(row_of)
    assert all(c.headline == row_of[c.doc_id] for c in chunks.values())
    # A file that does not match the documents is refused.
    old = tmp_path / "old"
    shutil.copytree(resolve_version(seed_index), old)
    np.save(old / HEADLINE_VECTORS, stored[:-1])
    with pytest.raises(IndexCorruptError, match="headline vectors"):
        IndexReader(old)
    (old / HEADLINE_VECTORS).unlink()
    with pytest.raises(IndexCorruptError, match="cannot read"):
        IndexReader(old)


def test_an_index_in_an_older_format_is_stale_and_rebuilt(  # type: ignore[no-untyped-def]
    seed_index: Path, tmp_path: Path, embedder
) -> None:
    """What an upgrade meets: `ragqa index --if-stale` sees the old format and builds anew."""
    old = tmp_path / "index"
    shutil.copytree(seed_index, old, symlinks=True)
    manifest_path = resolve_version(old) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 2  # FTS5 for BM25, no lexical/ folder
    manifest_path.write_text(json.dumps(manifest))
    assert not is_fresh(SEEDS, old, embedder.name, ChunkerSettings())
    with pytest.raises(IndexCorruptError, match="has format 2"):
        IndexReader(old)
    report = build_index(SEEDS, old, embedder)
    assert report.embedded == report.chunks  # nothing could be reused from the old format
    assert IndexReader(old).lexical.passages == report.chunks
