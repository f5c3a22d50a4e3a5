"""Regression guard on retrieval quality over the seed questions (real model and index)."""

from __future__ import annotations

from service.evaluate import evaluate, load_questions
from service.retrieval import Retriever
from tests.conftest import QUESTIONS


def test_hybrid_recall_at_5_on_seed_questions(retriever: Retriever) -> None:
    questions = load_questions(QUESTIONS)

    def rank(question: str, k: int):  # type: ignore[no-untyped-def]
        return [(h.chunk.doc_id, h.chunk.text) for h in retriever.search(question, k)], None

    metrics = evaluate(questions, rank, k=5)
    assert metrics["answerable"] == 20
    assert metrics["recall@5"] >= 0.90, metrics
