"""The scale bench's synthetic index is a complete version the real service opens and searches."""

from __future__ import annotations

import sys
from pathlib import Path

from indexer.reader import IndexReader
from service.api.app import build_answerer
from service.schemas import AskRequest
from service.settings import Settings
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from synthetic import COMMON, questions, write_index


def test_synthetic_index_is_served_like_a_build(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = write_index(tmp_path / "index", 300, embedder, query_encoder=False)
    reader = IndexReader(tmp_path / "index")
    counts = reader.manifest["counts"]
    assert counts["chunks"] == reader.vectors.ntotal == reader.lexical.passages == 300
    assert counts["documents"] == 30 and len(reader.sentence_vectors) == counts["sentences"]
    for chunk in corpus.chunks[:20]:  # each passage is its document's text at its offsets
        doc = reader.document(chunk.doc_id)
        assert doc is not None and doc["text"][chunk.start : chunk.end] == chunk.text
    # The very common words are in a large share of passages, as the bench intends.
    common = reader.lexical.tokens([COMMON[0]])
    assert reader.lexical.doc_freq(common[0]) > 60
    asked = questions(corpus, 4)
    assert len(set(asked)) == 4 and any(w in asked[1] for w in COMMON)
    answerer = build_answerer(Settings(index_dir=tmp_path / "index"), embedder)
    assert answerer.ask(AskRequest(question=asked[0])).passages
    # A passage's three rarest words find it: the lexical index holds the text the rows hold.
    rank = {w: i for i, w in enumerate(corpus.vocabulary)}
    target = corpus.chunks[123]
    words = {w.strip(".").lower() for w in target.text.split()}
    rare = sorted(words, key=lambda w: -rank[w])[:3]
    found = [i for i, _ in answerer.retriever.lexical(" ".join(rare), 5)]
    assert found[0] == 123
