"""Sentence-aware chunks within the model's token budget, with exact offsets."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from indexer.chunk import Chunker, ChunkerSettings
from indexer.models import Document


def _doc(text: str) -> Document:
    return Document(doc_id="d", title="T", text=text, path="d.txt", format="text")


def test_seed_chunks_slice_back_exactly_and_fit_the_model(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    db = sqlite3.connect(seed_index / "current" / "chunks.sqlite")
    docs = dict(db.execute("SELECT doc_id, text FROM documents"))
    rows = db.execute(
        'SELECT doc_id, start, "end", text, n_tokens, position FROM chunks'
    ).fetchall()
    assert len(docs) == 5 and len(rows) > 40
    tokenizer = embedder._model.tokenizer
    for doc_id, start, end, text, n_tokens, _ in rows:
        assert docs[doc_id][start:end] == text
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        assert len(ids) <= embedder.max_seq_length  # nothing is truncated when embedded
        assert len(ids) - 2 == n_tokens <= ChunkerSettings().max_tokens
        assert 20 <= len(text.split()) <= 200
    # Positions are dense per document and chunks cover every document from start to end.
    for doc_id, text in docs.items():
        spans = sorted((p, s, e) for d, s, e, _, _, p in rows if d == doc_id)
        assert [p for p, _, _ in spans] == list(range(len(spans)))
        assert spans[0][1] == 0 and spans[-1][2] == len(text.rstrip())


def test_consecutive_chunks_overlap_by_a_sentence(embedder) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(
        f"Sentence number {i} talks about topic {i} in some detail here." for i in range(40)
    )
    chunks = Chunker(embedder.tokenizer, ChunkerSettings(max_tokens=64)).split(_doc(text))
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # overlap
        assert text[b.start : a.end].endswith(".")  # ... of whole sentences
        assert b.start > a.start  # progress


def test_overlong_sentence_is_split_at_word_boundaries(embedder) -> None:  # type: ignore[no-untyped-def]
    text = "word " * 600 + "end."
    chunks = Chunker(embedder.tokenizer, ChunkerSettings(max_tokens=100)).split(_doc(text.strip()))
    assert len(chunks) >= 6
    for c in chunks:
        assert c.n_tokens <= 100
        assert c.text == text.strip()[c.start : c.end]
        assert not c.text.startswith(" ") and c.text[-3:] != "wor"


def test_short_document_is_one_chunk(embedder) -> None:  # type: ignore[no-untyped-def]
    chunks = Chunker(embedder.tokenizer).split(_doc("Just one line."))
    assert [(c.start, c.end, c.chunk_id) for c in chunks] == [(0, 14, "d#0")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ChunkerSettings(max_tokens=300), r"max_tokens must be between 16 and 254 .*got 300"),
        (ChunkerSettings(max_tokens=8), r"max_tokens must be between 16 and 254 .*got 8"),
        (ChunkerSettings(overlap_sentences=9), r"overlap_sentences must be between 0 and 5, got 9"),
    ],
)
def test_invalid_settings_fail_fast(settings: ChunkerSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.check(254)
