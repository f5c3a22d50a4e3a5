"""Extractive answers, abstention, highlights, duplicate collapse and filters over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.build import build_index
from service.api.app import create_app
from service.eval.evaluate import load_questions
from service.qa.rerank import AnswerModel
from service.settings import Settings
from tests.conftest import QUESTIONS


@pytest.fixture(scope="module")
def client(seed_index: Path, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(Settings(index_dir=seed_index), embedder=embedder)) as c:
        yield c


def _doc_text(client: TestClient, doc_id: str, cache: dict[str, str] = {}) -> str:  # noqa: B006
    if doc_id not in cache:
        cache[doc_id] = client.get(f"/v1/documents/{doc_id}").json()["text"]
    return cache[doc_id]


def test_every_citation_and_highlight_slices_back(client: TestClient) -> None:
    for q in load_questions(QUESTIONS):
        body = client.post("/v1/ask", json={"question": q.question, "top_k": 8}).json()
        answer = body["answer"]
        if answer is not None:
            parts = [
                _doc_text(client, c["doc_id"])[c["start"] : c["end"]] for c in answer["citations"]
            ]
            assert " ".join(parts) == answer["text"]
            # The reranking stage's probability, never below its abstention threshold.
            assert AnswerModel.load().threshold <= answer["confidence"] <= 1.0
        for p in body["passages"]:
            text = _doc_text(client, p["doc_id"])
            assert p["highlights"], p["chunk_id"]
            for h in p["highlights"]:
                assert p["start"] <= h["start"] < h["end"] <= p["end"]
                assert text[h["start"] : h["end"]].strip() == text[h["start"] : h["end"]]
            for a in p["also_in"]:
                assert a["doc_id"] != p["doc_id"]
                assert _doc_text(client, a["doc_id"])[a["start"] : a["end"]]


def test_answers_the_answerable_seed_questions_and_abstains_otherwise(client: TestClient) -> None:
    unanswered = []
    for q in load_questions(QUESTIONS):
        answer = client.post("/v1/ask", json={"question": q.question}).json()["answer"]
        if q.answerable and answer is None:
            unanswered.append(q.question)
        if not q.answerable:
            assert answer is None, (q.question, answer)
    # Measured: two of 20 below the threshold ("What is OpenAI valued at?", "How many employees
    # spoke about the reallocation of resources?"): a question asking for an amount or a count is
    # the form the corpus most often cannot answer, so its answer needs a higher cross-encoder
    # score (docs/answers.md, "Confidence and abstention").
    assert len(unanswered) <= 2, unanswered


@pytest.mark.parametrize(
    "question",
    [
        "How do I bake sourdough bread?",
        "Who won the 2018 FIFA World Cup?",
        "What is the boiling point of water at sea level?",
    ],
)
def test_off_topic_questions_get_no_answer_but_still_passages(
    client: TestClient, question: str
) -> None:
    body = client.post("/v1/ask", json={"question": question}).json()
    assert body["answer"] is None
    assert len(body["passages"]) == 5


def test_answer_quotes_the_corpus(client: TestClient) -> None:
    body = client.post(
        "/v1/ask", json={"question": "What is Anthropic's share of the enterprise AI market?"}
    ).json()
    assert "40%" in body["answer"]["text"]
    assert body["answer"]["citations"][0]["doc_id"] == "000_86f8993b5b014a66"


def test_no_two_passages_show_the_same_key_sentence(client: TestClient) -> None:
    body = client.post(
        "/v1/ask", json={"question": "Who is OpenAI's chief research officer?", "top_k": 10}
    ).json()
    keys = [(p["doc_id"], p["highlights"][0]["start"]) for p in body["passages"]]
    assert len(keys) == len(set(keys))


# Two outlets carrying the same quote, and an unrelated story.
QUOTE = "“We will not ration water this summer, whatever the forecasts say,” said mayor Lena Ortiz."
CORPUS = {
    "herald.txt": "Reservoirs Hold Steady\n\nThe city’s reservoirs stood at 80% on Monday. "
    f"{QUOTE} Officials said pipes would be repaired by June.",
    "gazette.txt": "Mayor Rules Out Rationing\n\nSpeaking at the town hall on Monday, the mayor "
    f"addressed the drought. {QUOTE} Farmers had asked for guarantees.",
    "sports.txt": "Local Team Wins Cup\n\nThe Harbourside Rovers beat the Millers 2-1 in the cup final "
    "on Saturday, with a late goal from captain Ana Silva.",
}


@pytest.fixture(scope="module")
def quote_client(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    src = tmp_path_factory.mktemp("quote-src")
    for name, text in CORPUS.items():
        (src / name).write_text(text, "utf-8")
    out = tmp_path_factory.mktemp("quote-index")
    build_index(src, out, embedder)
    with TestClient(create_app(Settings(index_dir=out), embedder=embedder)) as c:
        yield c


def test_documents_sharing_a_quote_collapse_into_one_passage(quote_client: TestClient) -> None:
    body = quote_client.post(
        "/v1/ask", json={"question": "Will the mayor ration water this summer?"}
    ).json()
    passages = body["passages"]
    first = passages[0]
    assert first["doc_id"] in ("herald", "gazette")
    other = "gazette" if first["doc_id"] == "herald" else "herald"
    assert [a["doc_id"] for a in first["also_in"]] == [other]
    also = first["also_in"][0]
    other_text = quote_client.get(f"/v1/documents/{other}").json()["text"]
    assert other_text[also["start"] : also["end"]] == QUOTE
    assert other not in [p["doc_id"] for p in passages]  # shown once, as corroboration
    assert body["answer"]["text"] == QUOTE
    assert [a["doc_id"] for a in body["answer"]["also_in"]] == [other]  # corroborated


def test_filters_restrict_sources(client: TestClient) -> None:
    ask = lambda filters: client.post(  # noqa: E731
        "/v1/ask",
        json={"question": "Why did Tworek leave OpenAI?", "top_k": 10, "filters": filters},
    ).json()
    only = ask({"doc_ids": ["002_b7aaf7630593e51a"]})
    assert {p["doc_id"] for p in only["passages"]} == {"002_b7aaf7630593e51a"}
    by_source = ask({"source_contains": "THEMENA.com"})
    assert {p["doc_id"] for p in by_source["passages"]} == {"001_431aca0937e33b64"}
    dated = ask({"published_after": "2026-02-01", "published_before": "2026-02-28"})
    assert {p["doc_id"] for p in dated["passages"]} == {"001_431aca0937e33b64"}
    none = ask({"published_before": "2020-01-01"})
    assert none["passages"] == [] and none["answer"] is None


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (
            {"published_after": "2026-13-01"},
            "filters.published_after: Input should be a valid date",
        ),
        (
            {"published_before": "yesterday"},
            "filters.published_before: Input should be a valid date",
        ),
        (
            {"published_after": "2026-03-01", "published_before": "2026-01-01"},
            "filters: Value error, published_after (2026-03-01) is later than published_before (2026-01-01)",
        ),
        ({"doc_ids": []}, "filters.doc_ids: List should have at least 1 item"),
        ({"doc_ids": [""]}, "filters.doc_ids.0: String should have at least 1 character"),
        (
            {"source_contains": ""},
            "filters.source_contains: String should have at least 1 character",
        ),
        ({"author": "x"}, "filters.author: Extra inputs are not permitted"),
        ("all", "filters: Input should be a valid dictionary"),
    ],
)
def test_invalid_filters_get_422_naming_the_field(
    client: TestClient, filters: object, message: str
) -> None:
    r = client.post("/v1/ask", json={"question": "Tworek", "filters": filters})
    assert r.status_code == 422
    assert message in r.json()["error"]["message"]


def test_a_headline_is_never_the_answer(client: TestClient) -> None:
    titles = {
        client.get(f"/v1/documents/{d}").json()["title"]
        for d in (
            "000_86f8993b5b014a66",
            "001_431aca0937e33b64",
            "002_b7aaf7630593e51a",
            "004_18dd4046727b8826",
        )
    }
    for q in [
        *load_questions(QUESTIONS),
        *load_questions(QUESTIONS.with_name("calibration-questions.jsonl")),
    ]:
        answer = client.post("/v1/ask", json={"question": q.question}).json()["answer"]
        assert answer is None or answer["text"] not in titles, q.question


def test_evidence_reranking_orders_by_best_sentence() -> None:
    from indexer.reader import ChunkRow
    from service.qa.extract import ScoredSentence, rerank_by_evidence
    from service.qa.retrieval import Hit

    def hit(i: int, score: float) -> Hit:
        row = ChunkRow(i, f"d#{i}", "d", i, 100 * i, 100 * i + 90, "text", "Title", "s", None, 0)
        return Hit(row, score)

    def sentence(chunk: int, score: float, is_title: bool = False) -> ScoredSentence:
        start = 100 * chunk
        return ScoredSentence(
            chunk, chunk, "d", start, start + 4, "text", score, 0.0, score, is_title
        )

    hits = [hit(0, 2.0), hit(1, 1.8), hit(2, 1.0)]
    scored = {
        0: [sentence(0, 0.3), sentence(0, 0.9, is_title=True)],  # a headline is no evidence
        1: [sentence(1, 0.8)],
        2: [],
    }
    assert rerank_by_evidence(hits, scored, 0.0) == hits
    reranked = rerank_by_evidence(hits, scored, 1.0)
    assert [h.chunk.id for h in reranked] == [1, 0, 2]
    assert [round(h.score, 6) for h in reranked] == [1.7, 1.3, 0.5]  # 1.8/2 + 0.8, 2/2 + 0.3, 1/2
    # The retriever's own score is kept, scaled alike, for the answer's rank prior.
    assert [h.retrieval for h in reranked] == [0.9, 1.0, 0.5]


def test_evidence_weight_shrinks_for_long_queries(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Evidence is one sentence: a query longer than a sentence weighs it less."""
    from service.qa.answer import EVIDENCE_QUERY_WORDS, Answerer
    from service.qa.retrieval import Retriever

    answerer = Answerer(Retriever.open(seed_index, embedder), evidence_weight=2.0)
    assert answerer.evidence_weight_for("Who is OpenAI's chief research officer?") == 2.0
    assert answerer.evidence_weight_for(" ".join(["w"] * EVIDENCE_QUERY_WORDS)) == 2.0
    long_query = " ".join(["Tworek left to study learning."] * 30)  # 150 words
    assert answerer.evidence_weight_for(long_query) == pytest.approx(
        2.0 * EVIDENCE_QUERY_WORDS / 150
    )


def test_a_higher_ranked_passage_wins_a_near_tie_for_the_answer() -> None:
    from service.qa.extract import ScoredSentence, extract_answer

    def sentence(chunk: int, score: float) -> ScoredSentence:
        return ScoredSentence(
            chunk, chunk, "d", 10 * chunk, 10 * chunk + 5, f"s{chunk}", score, 0, score
        )

    first, second = [sentence(0, 0.80)], [sentence(1, 0.85)]
    assert extract_answer([first, second], 0.5).sentences[0].chunk_id == 1  # type: ignore[union-attr]
    chosen = extract_answer([first, second], 0.5, priors=[0.0, -0.1])
    assert chosen is not None and chosen.sentences[0].chunk_id == 0 and chosen.score == 0.80
    assert extract_answer([[sentence(0, 0.55)]], 0.5, priors=[-0.1]) is None  # below threshold


def test_centrality_is_similarity_to_the_mean_direction_centred() -> None:
    import numpy as np

    from indexer.centrality import centrality

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)).astype(np.float32) + np.array([3.0] + [0.0] * 7)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    mean = vectors.mean(axis=0) / np.linalg.norm(vectors.mean(axis=0))
    expected = vectors @ mean - (vectors @ mean).mean()
    got = centrality(vectors.astype(np.float16), block=7)  # in blocks, from float16 as stored
    assert got == pytest.approx(expected, abs=2e-3)
    assert abs(float(got.mean())) < 1e-6
    assert int(np.argmax(got)) == int(np.argmax(vectors @ mean))
    assert centrality(np.zeros((0, 8), dtype=np.float16)).shape == (0,)
