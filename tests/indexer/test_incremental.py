"""An incremental rebuild answers exactly like a full rebuild of the same sources."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_index
from indexer.chunk import ChunkerSettings
from indexer.embed import BF16_MIN_COSINE
from indexer.engines import LocalEngine
from indexer.reader import IndexReader
from indexer.store import resolve_version
from service.eval.evaluate import load_questions
from service.qa.retrieval import Retriever
from tests.conftest import QUESTIONS, with_precision


class Recording(LocalEngine):
    """Embeds in this process, keeping the texts it was given."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts, embedder, progress):  # type: ignore[no-untyped-def]
        self.encoded.extend(texts)
        return super().encode(texts, embedder, progress)


def _rows(index: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    db = sqlite3.connect(resolve_version(index) / "chunks.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _edit(corpus: Path) -> None:
    """Add one article, change one, withdraw one."""
    (corpus / "005_tides.txt").write_text(
        "Tidal Power Plant Opens\n\nA tidal power plant in the estuary began supplying 40,000 homes "
        "on Monday, the operator said. Engineers expect output to double by 2030.",
        "utf-8",
    )
    path = corpus / "000_86f8993b5b014a66.txt"
    path.write_text(
        path.read_text("utf-8").replace("known as Pulse", "known as Pulse Max"), "utf-8"
    )
    (corpus / "002_b7aaf7630593e51a.txt").unlink()


@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_incremental_equals_full_and_embeds_only_what_changed(
    corpus: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    precision: str,
) -> None:
    embedder = with_precision(embedder, precision)
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    build_index(corpus, incremental, embedder)
    assert _withdrawn(incremental)  # in 002, which is about to be withdrawn
    _edit(corpus)
    engine = Recording()
    report = build_index(corpus, incremental, embedder, engine=engine)
    assert (report.added, report.changed, report.removed) == (
        ["005_tides"],
        ["000_86f8993b5b014a66"],
        ["002_b7aaf7630593e51a"],
    )
    assert report.unchanged == 3
    assert report.documents_embedded == 2  # the new and the changed article, nothing else
    # No headline was embedded again: the changed article kept its title, and the new one's is
    # also its first sentence, embedded once as that.
    manifest = IndexReader(incremental).manifest
    assert len(engine.encoded) == manifest["counts"]["embedded"]
    assert engine.encoded.count("Tidal Power Plant Opens") == 1
    assert 0 < report.embedded < report.chunks and report.full_reason is None

    reference = build_index(corpus, full, embedder, full=True)
    assert reference.embedded == reference.chunks

    # Same documents, passages and sentences, and nothing left of the withdrawn article.
    for sql in (
        "SELECT doc_id, title, source, published, text, content_hash, headline FROM documents"
        " ORDER BY doc_id",
        'SELECT id, chunk_id, doc_id, start, "end", text, text_hash FROM chunks ORDER BY id',
        'SELECT id, doc_id, start, "end", text_hash FROM sentences ORDER BY id',
    ):
        assert _rows(incremental, sql) == _rows(full, sql), sql
    assert not _rows(incremental, "SELECT 1 FROM chunks WHERE doc_id = '002_b7aaf7630593e51a'")
    assert not _withdrawn(incremental)

    a, b = IndexReader(incremental), IndexReader(full)
    assert a.vectors.ntotal == b.vectors.ntotal == report.chunks == a.lexical.passages
    if embedder.corpus_precision == "bfloat16":
        # bfloat16 results depend a little on what else is in the batch: the reused and the
        # fresh vectors agree with a full rebuild's, not bit for bit.
        for x, y in ((a.vectors.reconstruct_n(0, a.vectors.ntotal),
                      b.vectors.reconstruct_n(0, b.vectors.ntotal)),
                     (a.sentence_vectors, b.sentence_vectors),
                     (a.headline_vectors, b.headline_vectors)):  # fmt: skip
            x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
            assert np.sum(x * y, axis=1).min() >= BF16_MIN_COSINE
        return
    np.testing.assert_allclose(
        a.vectors.reconstruct_n(0, a.vectors.ntotal),
        b.vectors.reconstruct_n(0, b.vectors.ntotal),
        atol=1e-5,
    )
    for x, y in (
        (a.sentence_vectors, b.sentence_vectors),
        (a.headline_vectors, b.headline_vectors),
    ):
        np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32), atol=2e-3)

    # Same rankings for every development question, in every mode.
    ra, rb = Retriever(a, embedder), Retriever(b, embedder)
    for q in [*(q.question for q in load_questions(QUESTIONS)), "tidal power homes"]:
        for mode in ("dense", "lexical", "hybrid"):
            hits_a, hits_b = ra.search(q, 10, mode), rb.search(q, 10, mode)
            assert [h.chunk.chunk_id for h in hits_a] == [h.chunk.chunk_id for h in hits_b], (
                q,
                mode,
            )
            np.testing.assert_allclose(
                [h.score for h in hits_a], [h.score for h in hits_b], atol=1e-4
            )


def test_model_or_chunker_change_forces_a_full_rebuild(
    corpus: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "idx"
    build_index(corpus, out, embedder)
    report = build_index(corpus, out, embedder, ChunkerSettings(max_tokens=100))
    assert report.full_reason is not None and "chunker settings changed" in report.full_reason
    assert report.embedded == report.chunks
    unchanged = build_index(corpus, out, embedder, ChunkerSettings(max_tokens=100))
    assert unchanged.embedded == 0 and unchanged.documents_embedded == 0
    assert unchanged.unchanged == 5 and not (
        unchanged.added or unchanged.changed or unchanged.removed
    )


def _withdrawn(index: Path) -> list[tuple[int, float]]:
    """Lexical hits on a word only the withdrawn article (002) uses."""
    reader = IndexReader(index)
    try:
        return reader.lexical.search(reader.lexical.tokens(["aftershocks"]), 10)
    finally:
        reader.close()
