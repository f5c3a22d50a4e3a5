"""The /v1/ask pipeline, shared by the HTTP route and `ragqa ask`.

retrieve (hybrid) → score the candidates' sentences → collapse repeats → extract an answer, or
abstain.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from indexer.reader import ChunkRow
from service.ops.metrics import timed
from service.qa.collapse import collapse
from service.qa.compose import Composed, compose
from service.qa.extract import (
    ScoredSentence,
    SentenceScorer,
    extract_answer,
    highlights,
    rank_priors,
    rerank_by_evidence,
)
from service.qa.parts import split_parts, with_context
from service.qa.rerank import Reranked, Reranker
from service.qa.retrieval import Hit, Mode, Retriever
from service.qa.search.rewrite import drop_exclusions
from service.schemas import (
    Answer,
    AnswerPart,
    AskRequest,
    AskResponse,
    Filters,
    IndexInfo,
    Passage,
    ShortAnswer,
    SourceSpan,
    Span,
)

Scored = dict[int, list[ScoredSentence]]

# Passages whose sentences compete for the answer: the top of the list a reader sees first.
ANSWER_PASSAGES = 5
# Evidence is one sentence, and a query longer than a sentence is not answered by one: the evidence
# weight shrinks in proportion beyond this many words. Measurements: docs/retrieval.md.
EVIDENCE_QUERY_WORDS = 30


class Answerer:
    def __init__(
        self,
        retriever: Retriever,
        answer_threshold: float = 0.5,
        coverage_weight: float = 0.5,
        evidence_weight: float = 1.0,
        centroid_weight: float = 0.25,
        reranker: Reranker | None = None,
        reranker_threshold: float | None = None,
        inflections: bool = False,
    ) -> None:
        self.retriever = retriever
        self.answer_threshold = answer_threshold
        self.evidence_weight = evidence_weight
        self.scorer = SentenceScorer(
            retriever.reader, coverage_weight, centroid_weight, inflections=inflections
        )
        # The cross-encoder stage (hybrid mode only); None keeps the pipeline without it.
        self.reranker = reranker
        # None: the parameter file's threshold, read at each question (it goes with the model).
        self.reranker_threshold = reranker_threshold

    def rank(
        self, question: str, k: int, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> tuple[list[Hit], Scored]:
        """The ``k`` best passages for ``question`` in the served order, and their sentences.

        What the question rules out ("besides Tworek") is not searched for: see
        ``search.rewrite``.
        """
        hits, scored, _ = self._rank_searched(drop_exclusions(question), k, mode, filters, question)
        return hits, scored

    def _rank_searched(
        self, searched: str, k: int, mode: Mode, filters: Filters | None, asked: str | None = None
    ) -> tuple[list[Hit], Scored, Reranked | None]:
        """``rank`` for a question whose exclusions are already dropped, with the reranking
        stage's result when it ran."""
        retrieval = self.retriever.retrieve(searched, k, mode=mode, filters=filters)
        with timed(self.retriever.observe, "sentences"):
            hits, scored = self.order(searched, retrieval.query, retrieval.hits, mode)
        if self.reranker is None or mode != "hybrid" or not hits:
            return hits, scored, None
        with timed(self.retriever.observe, "rerank"):
            reranked = self.reranker.rerank(searched, hits, scored, asked)
        return reranked.hits, scored, reranked

    def order(
        self, question: str, query: np.ndarray, hits: list[Hit], mode: Mode = "hybrid"
    ) -> tuple[list[Hit], dict[int, list[ScoredSentence]]]:
        """Score the hits' sentences; in hybrid mode, put the passages with the best ones first.

        Dense-only and lexical-only modes keep their retriever's order: they exist to show what
        the served (hybrid) ranking adds to either retriever alone.
        """
        scored = self.scorer.score(question, query, hits)
        if mode == "hybrid":
            hits = rerank_by_evidence(hits, scored, self.evidence_weight_for(question))
        return hits, scored

    def evidence_weight_for(self, question: str) -> float:
        """The evidence weight, scaled down for queries longer than a sentence."""
        return self.evidence_weight * min(1.0, EVIDENCE_QUERY_WORDS / max(1, len(question.split())))

    def ask(self, request: AskRequest, mode: Mode = "hybrid") -> AskResponse:
        started = time.perf_counter()
        k = request.top_k
        # Fetch extra candidates so that k distinct passages remain after collapsing repeats.
        searched = drop_exclusions(request.question)
        hits, scored, reranked = self._rank_searched(
            searched, max(3 * k, 15), mode, request.filters, request.question
        )
        with timed(self.retriever.observe, "collapse"):
            groups = collapse(hits, scored, k, self.retriever.reader.sentence_vectors)
        rows = {h.chunk.id: h.chunk for h in hits}
        answer, said = None, set[int]()
        if reranked is not None:
            with timed(self.retriever.observe, "answer"):
                answer, said = self._reranked_answer(
                    searched, reranked, hits, scored, rows, request.question
                )
        else:
            retrieved = [_retrieval_score(g.hit) for g in groups[:ANSWER_PASSAGES]]
            extracted = extract_answer(
                [g.sentences for g in groups[:ANSWER_PASSAGES]],
                self.answer_threshold,
                priors=rank_priors(retrieved),
                question=searched,
            )
            if extracted is not None:
                said = {s.sentence_id for s in extracted.sentences}
                answer = Answer(
                    text=" ".join(s.text for s in extracted.sentences),
                    citations=[_span(s, rows[s.chunk_id]) for s in extracted.sentences],
                    confidence=extracted.confidence,
                )
        if answer is not None:
            answer.also_in = [
                _span(also, rows[also.chunk_id])
                for g in groups
                for also, repeated in zip(g.also_in, g.repeats, strict=True)
                if repeated in said
            ]
        passages = [
            Passage(
                rank=rank,
                score=round(g.hit.score, 6),
                text=g.hit.chunk.text,
                doc_id=g.hit.chunk.doc_id,
                chunk_id=g.hit.chunk.chunk_id,
                title=g.hit.chunk.title,
                source=g.hit.chunk.source,
                published=g.hit.chunk.published,
                start=g.hit.chunk.start,
                end=g.hit.chunk.end,
                highlights=[Span(start=s.start, end=s.end) for s in highlights(g.sentences)],
                also_in=[_span(s, rows[s.chunk_id]) for s in g.also_in],
            )
            for rank, g in enumerate(groups, 1)
        ]
        reader = self.retriever.reader
        return AskResponse(
            question=request.question,
            answer=answer,
            passages=passages,
            index=IndexInfo(version=reader.version, built_at=reader.built_at),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def _reranked_answer(
        self,
        searched: str,
        reranked: Reranked,
        hits: list[Hit],
        scored: Scored,
        rows: Rows,
        asked: str,
    ) -> tuple[Answer | None, set[int]]:
        """The answer of the reranking path (one composed span, or one per part), and the ids of
        its sentences."""
        assert self.reranker is not None
        parts = split_parts(searched)
        if len(parts) == 1:
            composed = self._compose(searched, reranked.windows, reranked.confidence, scored, asked)
            if composed is None:
                return None, set()
            answer = Answer(
                text=" ".join(s.text for s in composed.sentences),
                citations=[_span(s, rows[s.chunk_id]) for s in composed.sentences],
                confidence=round(composed.confidence, 3),
                short=_short(composed),
            )
            return answer, {s.sentence_id for s in composed.sentences}
        answered: list[tuple[str, Composed | None]] = []
        for n, part in enumerate(parts):
            asked = part if n == 0 else with_context(part, parts[0])
            part_scored = self.scorer.score(asked, self.retriever.embed(asked), hits)
            windows = self.reranker.score_windows(
                asked, self.reranker.candidates(asked, hits, part_scored)
            )
            confidence = self.reranker.confidence(windows)
            answered.append((part, self._compose(asked, windows, confidence, part_scored)))
        found = [c for _, c in answered if c is not None]
        if not found:
            return None, set()
        sentences = list({s.sentence_id: s for c in found for s in c.sentences}.values())
        answer = Answer(
            text=" ".join(s.text for s in sentences),
            citations=[_span(s, rows[s.chunk_id]) for s in sentences],
            confidence=round(min(c.confidence for c in found), 3),
            short=_short(found[0]),
            parts=[
                AnswerPart(
                    question=part,
                    text=" ".join(s.text for s in c.sentences) if c else None,
                    citations=[_span(s, rows[s.chunk_id]) for s in c.sentences] if c else [],
                    short=_short(c) if c else None,
                )
                for part, c in answered
            ],
        )
        return answer, {s.sentence_id for s in sentences}

    def _compose(
        self,
        question: str,
        windows: list[Any],
        confidence: float,
        scored: Scored,
        asked: str | None = None,
    ) -> Composed | None:
        """The answer span of the best window, or None below the confidence threshold."""
        assert self.reranker is not None
        threshold = self.reranker_threshold
        if threshold is None:
            threshold = self.reranker.model.threshold
        if not windows or confidence < threshold:
            return None
        best = windows[0]
        sentences = scored[best.hit.chunk.id]
        return compose(self.reranker, question, best, sentences, confidence, asked)


Rows = dict[int, ChunkRow]


def _short(composed: Composed) -> ShortAnswer | None:
    s = composed.short
    return ShortAnswer(text=s.text, doc_id=s.doc_id, start=s.start, end=s.end) if s else None


def _retrieval_score(hit: Hit) -> float:
    return hit.score if hit.retrieval is None else hit.retrieval


def _span(sentence: ScoredSentence, chunk: ChunkRow) -> SourceSpan:
    return SourceSpan(
        doc_id=sentence.doc_id,
        title=chunk.title,
        source=chunk.source,
        start=sentence.start,
        end=sentence.end,
    )
