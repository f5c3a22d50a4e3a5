"""Rank fusion: pure logic on small rankings, and the real retrievers on the BEIR fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.lexical import LexicalIndex, write_lexical
from service.eval.beir import evaluate_beir, load_beir, ndcg_at, recall_at
from service.qa.answer import Answerer
from service.qa.retrieval import Retriever
from service.qa.search.fusion import convex_fusion, reciprocal_rank_fusion
from service.qa.search.lexical import lexical_search, lucene_idf, query_terms
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


def test_lexical_search_is_safe_for_any_input(tmp_path: Path) -> None:
    """Query syntax in a question is just words: nothing is parsed as an operator."""
    index = _lexical(tmp_path, ["near b x", "nothing here", "or and not"])
    hostile = 'What is "NEAR(a b)" OR -x* AND? x"y'
    assert index.tokens(query_terms(hostile)) == ["near", "b", "x", "y"]
    assert [i for i, _ in lexical_search(index, hostile, 10)] == [0]
    assert lexical_search(index, "what is the", 10) == []


def _lexical(tmp_path: Path, texts: list[str]) -> LexicalIndex:
    write_lexical(tmp_path / "lexical", texts)
    return LexicalIndex(tmp_path / "lexical")


def test_lexical_scores_are_bm25_with_lucene_idf(tmp_path: Path) -> None:
    texts = [
        "tworek left openai",
        "tworek joined openai in 2019",
        "smith left the lab",
        "tworek and openai again and again",
    ]  # fmt: skip
    index = _lexical(tmp_path, texts)
    lengths = [len(t.split()) for t in texts]
    avg = sum(lengths) / len(lengths)

    def bm25(terms: list[str], doc: int) -> float:
        words = texts[doc].split()
        score = 0.0
        for term in terms:
            tf, df = words.count(term), sum(term in t.split() for t in texts)
            norm = 1.2 * (1 - 0.75 + 0.75 * lengths[doc] / avg)
            score += lucene_idf(len(texts), df) * tf * 2.2 / (tf + norm) if tf else 0.0
        return score

    # Both terms are in half the passages or more, where FTS5's idf was zero; Lucene's is not.
    ranked = lexical_search(index, "Who has left, Tworek?", 10)
    assert [i for i, _ in ranked] == [0, 2, 1, 3]
    for doc, score in ranked:
        assert score == pytest.approx(bm25(["tworek", "left"], doc), rel=1e-6)
    assert [i for i, _ in lexical_search(index, "Who has left, Tworek?", 1, {1, 3})] == [1]
    assert lexical_search(index, "Who has left?", 10, {1, 3}) == []
    assert lexical_search(index, "Who has left?", 10, set()) == []
    assert lexical_search(index, "unseen words", 10) == []


def test_lexical_search_takes_a_query_of_any_length(tmp_path: Path) -> None:
    """A pasted paragraph's hundreds of terms score as the sum of each term's score."""
    words = [f"w{i}" for i in range(600)]
    texts = [" ".join(words[:300]) + " alpha", " ".join(words[300:]), "alpha beta", "gamma"]
    index = _lexical(tmp_path, texts)
    ranked = lexical_search(index, " ".join(words) + " alpha", 10)
    expected: dict[int, float] = {}
    for term in [*words, "alpha"]:
        for doc, score in lexical_search(index, term, 10):
            expected[doc] = expected.get(doc, 0.0) + score
    assert dict(ranked) == pytest.approx(expected, rel=1e-5)
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
