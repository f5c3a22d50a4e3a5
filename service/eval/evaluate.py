"""Retrieval quality on a question file in the format of eval/seed-questions.jsonl."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import SourceError


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: list[str]
    docs: list[str]

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_questions(path: Path) -> list[Question]:
    """Read a JSONL question file; a malformed line is an error naming the line."""
    if not path.is_file():
        raise SourceError(f"question file {path} does not exist")
    questions = []
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            questions.append(
                Question(
                    id=str(rec.get("id", lineno)),
                    question=str(rec["question"]),
                    answers=[str(a) for a in rec.get("answers", [])],
                    docs=[str(d) for d in rec.get("docs", [])],
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise SourceError(f"{path} line {lineno}: not a question record ({e})") from e
    if not questions:
        raise SourceError(f"question file {path} has no questions")
    return questions


def is_hit(question: Question, doc_id: str, text: str) -> bool:
    """A passage answers when it comes from a listed document and contains an answer string."""
    if question.docs and doc_id not in question.docs:
        return False
    lowered = text.casefold()
    return any(answer.casefold() in lowered for answer in question.answers)


# The quality metrics `evaluate` reports, besides counts, latency and the missed question ids.
QUALITY_METRICS = (
    "recall@1", "recall@3", "recall@5", "mrr", "abstention_accuracy", "answer_accuracy",
    "answer_words_p50",
)  # fmt: skip

# A ranker returns (doc_id, text) pairs, best first, whether it abstained (None: no answers),
# and optionally the answer's (doc_id, text) pairs, one per citation.
Ranker = Callable[[str, int], tuple[Any, ...]]


def evaluate(questions: list[Question], rank: Ranker, k: int = 5) -> dict[str, Any]:
    """recall@1/3/5 and MRR@k over answerable questions, abstention accuracy, latency."""
    first_hits: list[int | None] = []
    abstain_ok: list[bool] = []
    answer_ok: list[bool] = []
    answer_words: list[int] = []
    latencies: list[float] = []
    misses: list[str] = []
    for q in questions:
        started = time.perf_counter()
        ranked, abstained, *rest = rank(q.question, k)
        latencies.append((time.perf_counter() - started) * 1000)
        if abstained is not None:
            abstain_ok.append(abstained != q.answerable)
        if rest and rest[0]:
            answer_words.append(len(rest[0][0][1].split()))
        if not q.answerable:
            continue
        if rest:
            answer_ok.append(any(is_hit(q, d, t) for d, t in rest[0]))
        first = next((r for r, (d, t) in enumerate(ranked, 1) if is_hit(q, d, t)), None)
        first_hits.append(first)
        if first is None:
            misses.append(q.id)
    n = len(first_hits)

    def recall(at: int) -> float:
        return sum(1 for r in first_hits if r is not None and r <= at) / n if n else 0.0

    lat = np.asarray(latencies)
    return {
        "questions": len(questions),
        "answerable": n,
        "recall@1": round(recall(1), 4),
        "recall@3": round(recall(3), 4),
        "recall@5": round(recall(5), 4),
        "mrr": round(sum(1 / r for r in first_hits if r) / n, 4) if n else 0.0,
        "abstention_accuracy": round(sum(abstain_ok) / len(abstain_ok), 4) if abstain_ok else None,
        # Answerable questions whose extracted answer contains an answer string.
        "answer_accuracy": round(sum(answer_ok) / len(answer_ok), 4) if answer_ok else None,
        # The median length of the answers given, so that longer answers cannot buy accuracy.
        "answer_words_p50": float(np.median(answer_words)) if answer_words else None,
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 2),
        "missed": misses,
    }


def evaluate_pipeline(answerer: Any, questions: list[Question], k: int = 5) -> dict[str, Any]:
    """Metrics of the full /v1/ask pipeline with each retriever (dense, lexical, hybrid)."""
    from service.qa.retrieval import MODES
    from service.schemas import AskRequest

    results: dict[str, Any] = {}
    for mode in MODES:

        def rank(question: str, top_k: int, mode: Any = mode) -> tuple[Any, ...]:
            response = answerer.ask(AskRequest(question=question, top_k=top_k), mode=mode)
            answer = response.answer
            said = [(c.doc_id, answer.text) for c in answer.citations] if answer else []
            return [(p.doc_id, p.text) for p in response.passages], answer is None, said

        results[mode] = evaluate(questions, rank, k)
    return results
