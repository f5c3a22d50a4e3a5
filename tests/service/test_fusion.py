"""Rank fusion: pure logic on small rankings, and the real retrievers on the BEIR fixture."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from indexer.build import build_index
from service.answer import Answerer
from service.beir import evaluate_beir, load_beir, ndcg_at, recall_at
from service.retrieval import Retriever
from service.search.fusion import convex_fusion, reciprocal_rank_fusion
from service.search.lexical import fts_phrases, lexical_search, lucene_idf, query_terms
from tests.conftest import DATA

BEIR = DATA / "beir-tiny"


def test_convex_fusion_normalises_each_list() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]
    bm25 = [(3, 30.0), (4, 20.0), (1, 10.0)]
    fused = dict(convex_fusion([dense, bm25], [0.5, 0.5]))
    assert fused[1] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert fused[3] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    assert fused[4] == pytest.approx(0.5 * 0.5)
    assert [i for i, _ in convex_fusion([dense, bm25], [1.0, 0.0])][:3] == [1, 2, 3]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([[(1, 9.0), (2, 8.0)], [(2, 1.0), (3, 0.5)]], k=60)
    assert [i for i, _ in fused] == [2, 1, 3]


def test_query_terms_drop_stopwords_and_clitics() -> None:
    assert query_terms("Who is OpenAI's chief? What’s Meta’s lab? We'll see") == [
        "openai", "chief", "meta", "lab", "see",
    ]  # fmt: skip


def test_fts_phrases_are_safe_for_any_input() -> None:
    hostile = 'What is "NEAR(a b)" OR -x* AND? x"y'
    assert fts_phrases(hostile) == ['"near"', '"b"', '"x"', '"y"']
    assert fts_phrases("what is the") == []
    db = _fts(["near b x", "nothing here"])
    assert [i for i, _ in lexical_search(db, hostile, 10)] == [1]
    assert lexical_search(db, "what is the", 10) == []


def _fts(texts: list[str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE chunks_fts USING fts5(text, tokenize='porter unicode61')")
    db.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", enumerate(texts, 1))
    return db


def test_lexical_scores_are_bm25_with_lucene_idf() -> None:
    texts = [
        "tworek left openai",
        "tworek joined openai in 2019",
        "smith left the lab",
        "tworek and openai again and again",
    ]  # fmt: skip
    db = _fts(texts)
    lengths = [len(t.split()) for t in texts]
    avg = sum(lengths) / len(lengths)

    def bm25(terms: list[str], doc: int) -> float:
        words = texts[doc - 1].split()
        score = 0.0
        for term in terms:
            tf, df = words.count(term), sum(term in t.split() for t in texts)
            norm = 1.2 * (1 - 0.75 + 0.75 * lengths[doc - 1] / avg)
            score += lucene_idf(len(texts), df) * tf * 2.2 / (tf + norm) if tf else 0.0
        return score

    # Both terms are in half the passages or more: FTS5's own bm25() weighs them next to nothing.
    raw = db.execute(
        "SELECT -bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s DESC",
        (" OR ".join(fts_phrases("Tworek left")),),
    )
    assert raw.fetchone()[0] < 1e-5
    ranked = lexical_search(db, "Who has left, Tworek?", 10)
    assert [i for i, _ in ranked] == [1, 3, 2, 4]
    for doc, score in ranked:
        assert score == pytest.approx(bm25(["tworek", "left"], doc), rel=1e-9)
    assert [i for i, _ in lexical_search(db, "Who has left, Tworek?", 1, {2, 4})] == [2]
    assert lexical_search(db, "Who has left?", 10, {2, 4}) == []
    assert lexical_search(db, "unseen words", 10) == []


def test_lexical_search_takes_a_query_of_any_length() -> None:
    """More terms than SQLite allows in one compound SELECT are scored in batches and summed."""
    words = [f"w{i}" for i in range(600)]
    db = _fts([" ".join(words[:300]) + " alpha", " ".join(words[300:]), "alpha beta", "gamma"])
    ranked = lexical_search(db, " ".join(words) + " alpha", 10)
    expected: dict[int, float] = {}
    for term in [*words, "alpha"]:
        for doc, score in lexical_search(db, term, 10):
            expected[doc] = expected.get(doc, 0.0) + score
    assert dict(ranked) == pytest.approx(expected, rel=1e-9)
    assert [i for i, _ in ranked] == sorted(expected, key=lambda i: -expected[i])
    assert len(ranked) == 3


def test_metrics() -> None:
    assert ndcg_at(["a", "b"], {"a": 1}, 10) == 1.0
    assert ndcg_at(["b", "a"], {"a": 1}, 10) == pytest.approx(1 / 1.5849625)
    assert recall_at(["a", "x"], {"a": 1, "b": 1}, 10) == 0.5


def test_hybrid_beats_each_retriever_alone_on_the_beir_fixture(embedder) -> None:  # type: ignore[no-untyped-def]
    report = evaluate_beir(
        BEIR,
        build=lambda src, out: build_index(src, out, embedder),
        open_answerer=lambda out: Answerer(Retriever.open(out, embedder)),
    )
    assert (report["documents"], report["queries"]) == (24, 10)
    r = report["results"]
    assert r["hybrid"]["ndcg@10"] > r["dense"]["ndcg@10"]
    assert r["hybrid"]["ndcg@10"] > r["lexical"]["ndcg@10"]
    assert r["hybrid"]["recall@10"] >= max(r["dense"]["recall@10"], r["lexical"]["recall@10"])


def test_beir_query_is_not_its_own_result(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """As in BEIR's evaluation, a corpus document with the query's id (Quora, ArguAna) is skipped."""
    import json

    corpus = [
        {"_id": "q1", "title": "", "text": "How can I make my sourdough bread rise higher?"},
        {"_id": "d1", "title": "", "text": "Why does my sourdough loaf stay flat after baking?"},
        {"_id": "d2", "title": "", "text": "The tax office opens at nine on weekdays."},
        {"_id": "d3", "title": "", "text": " "},
    ]
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus), "utf-8")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": corpus[0]["text"]}))
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    report = evaluate_beir(
        tmp_path,
        build=lambda src, out: build_index(src, out, embedder),
        open_answerer=lambda out: Answerer(Retriever.open(out, embedder)),
    )
    assert report["documents"] == 3
    assert report["skipped"] == ["corpus.jsonl line 4: record has no 'text'"]
    for mode in ("dense", "lexical", "hybrid"):
        assert report["results"][mode]["ndcg@10"] == 1.0, mode


def test_beir_loader_errors(tmp_path: Path) -> None:
    from indexer.errors import SourceError

    with pytest.raises(SourceError, match=r"is not a BEIR dataset: corpus.jsonl is missing"):
        load_beir(tmp_path)
