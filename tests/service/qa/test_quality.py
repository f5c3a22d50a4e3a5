"""Regression guard on ranking quality over the seed questions (real model and index).

Most tests here measure the pipeline without the reranking stage (RAGQA_RERANKER=off), whose
parts (fusion, evidence ordering, centrality) the reranking stage builds on; figures are on the
192-token passages of the default build."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.eval.evaluate import evaluate_pipeline, load_questions
from service.qa.answer import Answerer
from service.qa.retrieval import Retriever
from tests.conftest import EXCLUSION_QUESTIONS, QUESTIONS

CALIBRATION = QUESTIONS.with_name("calibration-questions.jsonl")
HOLDOUT = QUESTIONS.with_name("holdout-questions.jsonl")


@pytest.fixture(scope="module")
def results(retriever: Retriever) -> dict:  # type: ignore[type-arg]
    return evaluate_pipeline(Answerer(retriever), load_questions(QUESTIONS))


@pytest.fixture(scope="module")
def calibration(retriever: Retriever) -> dict:  # type: ignore[type-arg]
    return evaluate_pipeline(Answerer(retriever), load_questions(CALIBRATION))


@pytest.fixture(scope="module")
def served(results: dict, calibration: dict) -> list[dict]:  # type: ignore[type-arg]
    """The served (hybrid) results on the development and calibration files."""
    return [results["hybrid"], calibration["hybrid"]]


def test_hybrid_meets_the_bar_on_the_development_file(
    results: dict, served_answerer: Answerer
) -> None:  # type: ignore[type-arg]
    # Without the reranking stage: measured recall@1 0.85, recall@5 0.90, MRR 0.863.
    hybrid = results["hybrid"]
    assert hybrid["answerable"] == 20
    assert hybrid["recall@5"] >= 0.90, hybrid["missed"]
    assert hybrid["recall@1"] >= 0.85 and hybrid["mrr"] >= 0.86, hybrid
    # Served (the reranking stage on): measured recall@1 0.90, MRR 0.938.
    on = evaluate_pipeline(served_answerer, load_questions(QUESTIONS), modes=("hybrid",))["hybrid"]
    assert on["recall@5"] == 1.0, on["missed"]
    assert on["recall@1"] >= 0.90 and on["mrr"] >= 0.93, on


def pooled(runs: list[dict], metric: str) -> float:  # type: ignore[type-arg]
    """``metric`` over several question files' results together."""
    n = "questions" if metric == "abstention_accuracy" else "answerable"
    return sum(r[metric] * r[n] for r in runs) / sum(r[n] for r in runs)


def hybrid_on_both_files(answerer: Answerer) -> list[dict]:  # type: ignore[type-arg]
    """``answerer``'s hybrid results on the development and calibration files."""
    return [
        evaluate_pipeline(answerer, load_questions(f))["hybrid"] for f in (QUESTIONS, CALIBRATION)
    ]


def test_fusion_is_at_least_as_good_as_either_retriever(
    results: dict,  # type: ignore[type-arg]
    calibration: dict,  # type: ignore[type-arg]
    served: list[dict],  # type: ignore[type-arg]
) -> None:
    for run in (results, calibration):
        assert run["hybrid"]["mrr"] > max(run["dense"]["mrr"], run["lexical"]["mrr"])
    # On the development file alone lexical finds one more in its top 3 (0.90 against 0.85);
    # over both files they are level.
    for metric in ("recall@3", "recall@5"):
        for mode in ("dense", "lexical"):
            alone = [results[mode], calibration[mode]]
            assert pooled(served, metric) >= pooled(alone, metric) - 1e-9, (metric, mode)
    # One question moves recall@1 by 0.05-0.07 on either file alone: compare the 35 together.
    for mode in ("dense", "lexical"):
        alone = [results[mode], calibration[mode]]
        assert pooled(served, "recall@1") >= pooled(alone, "recall@1"), mode
        assert pooled(served, "mrr") > pooled(alone, "mrr"), mode


def test_evidence_ordering_puts_answering_passages_first(
    retriever: Retriever,
    served: list[dict],  # type: ignore[type-arg]
) -> None:
    before, after = hybrid_on_both_files(Answerer(retriever, evidence_weight=0.0)), served
    assert pooled(after, "mrr") > pooled(before, "mrr") + 0.03
    assert pooled(after, "recall@1") > pooled(before, "recall@1")
    for metric in ("recall@5", "abstention_accuracy"):
        assert pooled(after, metric) >= pooled(before, metric), metric
    # The answer is chosen among the top five passages, so reordering, which changes which five
    # those are, can change it: at most one of the 35 answers may go (docs/retrieval.md).
    assert pooled(after, "answer_accuracy") >= pooled(before, "answer_accuracy") - 1 / 35 - 1e-3


def test_centrality_penalty_prefers_specific_sentences(
    retriever: Retriever,
    served: list[dict],  # type: ignore[type-arg]
) -> None:
    # On 128-token passages it raised MRR and answer accuracy here; on 192-token ones these two
    # files come out the same with and without it (docs/answers.md). It must not cost anything.
    before, after = hybrid_on_both_files(Answerer(retriever, centroid_weight=0.0)), served
    for metric in ("mrr", "answer_accuracy", "recall@1", "recall@5", "abstention_accuracy"):
        assert pooled(after, metric) >= pooled(before, metric) - 1e-9, metric


def test_answer_prior_uses_the_retrieval_score(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served score already holds the sentence scores the answer is chosen by (docs/answers.md)."""
    import service.qa.answer

    files = [QUESTIONS, CALIBRATION, HOLDOUT, EXCLUSION_QUESTIONS]

    def answers_found() -> tuple[float, float]:
        runs = [evaluate_pipeline(Answerer(retriever), load_questions(f))["hybrid"] for f in files]
        return (
            sum(r["answer_accuracy"] * r["answerable"] for r in runs),
            pooled(runs, "abstention_accuracy"),
        )

    retrieval_prior = answers_found()
    monkeypatch.setattr(service.qa.answer, "_retrieval_score", lambda hit: hit.score)
    served_prior = answers_found()
    assert retrieval_prior[0] > served_prior[0]
    assert retrieval_prior[1] >= served_prior[1]


def test_holdout_questions_stay_found(retriever: Retriever) -> None:
    """A guard on questions written without looking at the ranking (see docs/quality.md)."""
    results = evaluate_pipeline(Answerer(retriever), load_questions(HOLDOUT))
    hybrid = results["hybrid"]
    assert hybrid["answerable"] == 15
    assert hybrid["recall@5"] == 1.0, hybrid["missed"]
    assert hybrid["mrr"] >= 0.93, hybrid
    assert hybrid["mrr"] >= max(results["dense"]["mrr"], results["lexical"]["mrr"])


def test_abstains_on_the_unanswerable_questions(results: dict) -> None:  # type: ignore[type-arg]
    # Measured 0.955 without the reranking stage: one of the 22 answered wrongly.
    assert results["hybrid"]["abstention_accuracy"] >= 0.95


def test_question_file_errors(tmp_path: Path) -> None:
    from indexer.errors import SourceError

    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{"nope": 1}\n', "utf-8")
    with pytest.raises(SourceError, match=r"q.jsonl line 2: not a question record"):
        load_questions(bad)
    with pytest.raises(SourceError, match=r"does not exist"):
        load_questions(tmp_path / "missing.jsonl")


def test_only_the_hybrid_ranking_is_ordered_by_evidence(retriever: Retriever) -> None:
    from service.qa.extract import rerank_by_evidence

    answerer, question = Answerer(retriever), "What is OpenAI valued at?"
    for mode in ("dense", "lexical"):  # the baselines stay their retriever's own ranking
        retrieval = retriever.retrieve(question, 15, mode)
        assert answerer.order(question, retrieval.query, retrieval.hits, mode)[0] == retrieval.hits
    retrieval = retriever.retrieve(question, 15, "hybrid")
    hits, scored = answerer.order(question, retrieval.query, retrieval.hits, "hybrid")
    assert hits == rerank_by_evidence(retrieval.hits, scored, 1.0)
    assert [h.chunk.id for h in hits] != [h.chunk.id for h in retrieval.hits]
