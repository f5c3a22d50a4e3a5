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
    kind: str | None = None  # what the question asks for (news-dev's "reason", "list", ...)

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
                    kind=str(rec["kind"]) if rec.get("kind") else None,
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
    """recall@1/3/5 and MRR@k over answerable questions, abstention accuracy, latency; and the
    same per kind of question when the file gives kinds."""
    outcomes = [_outcome(q, rank, k) for q in questions]
    result = _metrics(outcomes)
    kinds = sorted({q.kind for q in questions if q.kind})
    if kinds:
        result["by_kind"] = {
            kind: {
                m: v
                for m, v in _metrics([o for o in outcomes if o["kind"] == kind]).items()
                if m in (*QUALITY_METRICS, "questions", "answerable")
            }
            for kind in kinds
        }
    return result


def _outcome(q: Question, rank: Ranker, k: int) -> dict[str, Any]:
    """What one question got: the rank of the first right passage, the answer's fate, time."""
    started = time.perf_counter()
    ranked, abstained, *rest = rank(q.question, k)
    ms = (time.perf_counter() - started) * 1000
    said = rest[0] if rest else None
    first = next((r for r, (d, t) in enumerate(ranked, 1) if is_hit(q, d, t)), None)
    return {
        "id": q.id,
        "kind": q.kind,
        "answerable": q.answerable,
        "first": first,
        "abstain_ok": None if abstained is None else abstained != q.answerable,
        "answer_ok": None if said is None else any(is_hit(q, d, t) for d, t in said),
        "words": len(said[0][1].split()) if said else None,
        "ms": ms,
    }


def _metrics(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o["answerable"]]
    first_hits: list[int | None] = [o["first"] for o in answerable]
    abstain_ok = [o["abstain_ok"] for o in outcomes if o["abstain_ok"] is not None]
    answer_ok = [o["answer_ok"] for o in answerable if o["answer_ok"] is not None]
    answer_words = [o["words"] for o in outcomes if o["words"]]
    latencies = [o["ms"] for o in outcomes]
    misses = [o["id"] for o in answerable if o["first"] is None]
    n = len(first_hits)

    def recall(at: int) -> float:
        return sum(1 for r in first_hits if r is not None and r <= at) / n if n else 0.0

    lat = np.asarray(latencies)
    return {
        "questions": len(outcomes),
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


def evaluate_pipeline(
    answerer: Any, questions: list[Question], k: int = 5, modes: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Metrics of the full /v1/ask pipeline with each retriever (dense, lexical, hybrid)."""
    from service.qa.retrieval import MODES
    from service.schemas import AskRequest

    results: dict[str, Any] = {}
    for mode in modes or MODES:

        def rank(question: str, top_k: int, mode: Any = mode) -> tuple[Any, ...]:
            response = answerer.ask(AskRequest(question=question, top_k=top_k), mode=mode)
            answer = response.answer
            said = [(c.doc_id, answer.text) for c in answer.citations] if answer else []
            return [(p.doc_id, p.text) for p in response.passages], answer is None, said

        results[mode] = evaluate(questions, rank, k)
    return results
