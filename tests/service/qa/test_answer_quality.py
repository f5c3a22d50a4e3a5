"""Floors on answer accuracy and answer length: the seed question files and a SQuAD sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from indexer.build import build_index
from service.api.app import build_answerer
from service.eval.evaluate import Question, evaluate, load_questions
from service.qa.answer import Answerer
from service.qa.retrieval import Retriever
from service.schemas import AskRequest
from service.settings import Settings
from tests.conftest import QUESTIONS, ROOT

SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-half"
# Three of the SQuAD half's 24 articles: 66 paragraphs and 312 questions, small enough to index
# in the suite, written by people who never saw this project.
SQUAD_ARTICLES = ("Black_Death", "Jacksonville,_Florida", "Sky_(United_Kingdom)")
MAX_MEDIAN_WORDS = 35


def hybrid(answerer: Answerer, questions: list[Question]) -> dict[str, Any]:
    """The served pipeline's metrics on ``questions``, as ``ragqa eval`` reports its hybrid row."""

    def rank(question: str, top_k: int) -> tuple[Any, ...]:
        response = answerer.ask(AskRequest(question=question, top_k=top_k))
        answer = response.answer
        said = [(c.doc_id, answer.text) for c in answer.citations] if answer else []
        return [(p.doc_id, p.text) for p in response.passages], answer is None, said

    return evaluate(questions, rank)


@pytest.mark.parametrize(
    ("name", "accuracy", "abstention"),
    [
        # Measured 0.90 / 0.909, 0.80 / 0.914, 1.00 / 1.00, 1.00 / 1.00 (the development file
        # 0.85 before stage 1 read the headline's cosine, 0.80 before stage 2 used the
        # cross-encoder's first choice; the exclusion file 0.857 before that; calibration 0.867 /
        # 0.943 at threshold 0.695, before it moved to the middle of its best run, 0.713; before
        # reading more where nothing scores well, calibration abstained 0.914; before the
        # confidence was fitted on "the corpus answers": 0.85 / 0.955, 0.80 / 0.857, 0.933 /
        # 0.941, 0.857 / 1.00).
        ("seed-questions.jsonl", 0.85, 0.90),
        ("calibration-questions.jsonl", 0.80, 0.91),
        ("holdout-questions.jsonl", 0.93, 0.94),
        ("exclusion-questions.jsonl", 0.85, 1.0),
    ],
)
def test_served_answers_on_the_seed_question_files(
    served_answerer: Answerer, name: str, accuracy: float, abstention: float
) -> None:
    """The default pipeline (reranking stage on). These files were among those it was fitted on
    (docs/answers.md gives the cross-validated figures): a regression guard, not a measure."""
    metrics = hybrid(served_answerer, load_questions(QUESTIONS.with_name(name)))
    assert metrics["answer_accuracy"] >= accuracy, metrics
    assert metrics["abstention_accuracy"] >= abstention, metrics
    assert metrics["answer_words_p50"] <= MAX_MEDIAN_WORDS, metrics


@pytest.mark.parametrize(
    ("name", "accuracy", "abstention"),
    [
        # Measured on 192-token passages 0.75 / 0.955, 0.867 / 0.914, 0.733 / 0.941,
        # 0.571 / 1.00 (on 128-token ones: 0.80 / 1.00, 0.867 / 0.914, 0.933 / 0.941, 0.571 / 1.00).
        ("seed-questions.jsonl", 0.75, 0.95),
        ("calibration-questions.jsonl", 0.86, 0.91),
        ("holdout-questions.jsonl", 0.73, 0.94),
        ("exclusion-questions.jsonl", 0.57, 1.0),
    ],
)
def test_answers_without_the_reranker_on_the_seed_question_files(
    retriever: Retriever, name: str, accuracy: float, abstention: float
) -> None:
    """RAGQA_RERANKER=off: the pipeline before the reranking stage."""
    metrics = hybrid(Answerer(retriever), load_questions(QUESTIONS.with_name(name)))
    assert metrics["answer_accuracy"] >= accuracy, metrics
    assert metrics["abstention_accuracy"] >= abstention, metrics
    assert metrics["answer_words_p50"] <= MAX_MEDIAN_WORDS, metrics


@pytest.fixture(scope="module")
def squad(
    tmp_path_factory: pytest.TempPathFactory, embedder, entities
) -> tuple[Path, list[Question]]:  # type: ignore[no-untyped-def]
    if not SQUAD.is_dir():
        pytest.skip(f"{SQUAD} is not beside the project")
    source = tmp_path_factory.mktemp("squad-source")
    keep = [
        line
        for line in (SQUAD / "corpus" / "squad-paragraphs.jsonl").read_text("utf-8").splitlines()
        if json.loads(line)["id"].rsplit("-", 1)[0] in SQUAD_ARTICLES
    ]
    (source / "squad.jsonl").write_text("\n".join(keep) + "\n", "utf-8")
    out = tmp_path_factory.mktemp("squad-index")
    build_index(source, out, embedder, entities=entities)
    questions = [
        q
        for q in load_questions(SQUAD / "questions.jsonl")
        if q.docs[0].rsplit("-", 1)[0] in SQUAD_ARTICLES
    ]
    return out, questions


def test_answers_on_a_squad_sample(
    squad: tuple[Path, list[Question]], embedder, cross_encoder
) -> None:  # type: ignore[no-untyped-def]
    """With and without the reranking stage. Its fit saw every 4th question of the SQuAD half
    (these articles' too), so a quarter of these are in its training data (docs/answers.md)."""
    index, questions = squad
    off = hybrid(Answerer(Retriever.open(index, embedder)), questions)
    on = hybrid(
        build_answerer(Settings(index_dir=index), embedder, cross_encoder=cross_encoder), questions
    )
    assert off["answerable"] == on["answerable"] == 312
    # Measured: without it answer accuracy 0.795 (recall@1 0.901), with it 0.811 (recall@1
    # 0.926; 0.933 before stage 1 read the headline's cosine, and 0.814 and 0.930 before stage 2
    # used the cross-encoder's first choice); 0.02 is six
    # questions. Before the stage read more where nothing scores well, 0.830
    # over the same index (0.846 over an earlier build): its refitted threshold (0.695, from
    # 0.553) withholds five more answers here, in exchange for abstaining where the corpus has no
    # answer (docs/answers.md).
    assert off["answer_accuracy"] >= 0.77, off
    assert on["answer_accuracy"] >= 0.80, on
    assert on["recall@1"] >= 0.91, on
    for metrics in (on, off):
        assert metrics["answer_words_p50"] <= MAX_MEDIAN_WORDS, metrics
