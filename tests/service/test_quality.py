"""Regression guard on answer quality over the seed questions (real model and index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.answer import Answerer
from service.evaluate import evaluate_pipeline, load_questions
from service.retrieval import Retriever
from tests.conftest import QUESTIONS

CALIBRATION = QUESTIONS.with_name("calibration-questions.jsonl")


@pytest.fixture(scope="module")
def results(retriever: Retriever) -> dict:  # type: ignore[type-arg]
    return evaluate_pipeline(Answerer(retriever), load_questions(QUESTIONS))


@pytest.fixture(scope="module")
def calibration(retriever: Retriever) -> dict:  # type: ignore[type-arg]
    return evaluate_pipeline(Answerer(retriever), load_questions(CALIBRATION))


def test_hybrid_finds_every_answer_in_the_top_5(results: dict) -> None:  # type: ignore[type-arg]
    hybrid = results["hybrid"]
    assert hybrid["answerable"] == 20
    assert hybrid["recall@5"] == 1.0, hybrid["missed"]
    assert hybrid["recall@1"] >= 0.75 and hybrid["mrr"] >= 0.85, hybrid


def test_fusion_is_at_least_as_good_as_either_retriever(results: dict) -> None:  # type: ignore[type-arg]
    for metric in ("recall@3", "recall@5", "mrr"):
        assert results["hybrid"][metric] >= results["dense"][metric], metric
        assert results["hybrid"][metric] >= results["lexical"][metric], metric


def test_fusion_is_at_least_as_good_as_either_retriever_on_the_calibration_questions(
    calibration: dict,  # type: ignore[type-arg]
) -> None:
    for metric in ("recall@1", "recall@3", "recall@5", "mrr"):
        assert calibration["hybrid"][metric] >= calibration["dense"][metric], metric
        assert calibration["hybrid"][metric] >= calibration["lexical"][metric], metric


def test_evidence_reranking_puts_answering_passages_first(
    retriever: Retriever,
    results: dict,  # type: ignore[type-arg]
    calibration: dict,  # type: ignore[type-arg]
) -> None:
    plain = Answerer(retriever, evidence_weight=0.0)
    before = [
        evaluate_pipeline(plain, load_questions(f))["hybrid"] for f in (QUESTIONS, CALIBRATION)
    ]
    after = [results["hybrid"], calibration["hybrid"]]

    def pooled(runs: list[dict], metric: str) -> float:  # type: ignore[type-arg]
        return sum(r[metric] * r["answerable"] for r in runs) / sum(r["answerable"] for r in runs)

    assert pooled(after, "mrr") > pooled(before, "mrr") + 0.03
    assert pooled(after, "recall@1") > pooled(before, "recall@1")
    for metric in ("recall@5", "abstention_accuracy", "answer_accuracy"):
        assert pooled(after, metric) >= pooled(before, metric), metric


def test_abstains_exactly_on_the_unanswerable_questions(results: dict) -> None:  # type: ignore[type-arg]
    assert results["hybrid"]["abstention_accuracy"] == 1.0


def test_question_file_errors(tmp_path: Path) -> None:
    from indexer.errors import SourceError

    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\n{"nope": 1}\n', "utf-8")
    with pytest.raises(SourceError, match=r"q.jsonl line 2: not a question record"):
        load_questions(bad)
    with pytest.raises(SourceError, match=r"does not exist"):
        load_questions(tmp_path / "missing.jsonl")
