"""The /v1/ask pipeline, shared by the HTTP route and `ragqa ask`.

retrieve (hybrid) → score the candidates' sentences → collapse repeats → extract an answer, or
abstain.
"""

from __future__ import annotations

import time

import numpy as np

from indexer.reader import ChunkRow
from service.ops.metrics import timed
from service.qa.collapse import collapse
from service.qa.extract import (
    ScoredSentence,
    SentenceScorer,
    extract_answer,
    highlights,
    rerank_by_evidence,
)
from service.qa.retrieval import Hit, Mode, Retriever
from service.qa.search.rewrite import drop_exclusions
from service.schemas import (
    Answer,
    AskRequest,
    AskResponse,
    Filters,
    IndexInfo,
    Passage,
    SourceSpan,
    Span,
)

# Passages whose sentences compete for the answer: the top of the list a reader sees first.
ANSWER_PASSAGES = 5
# How much a passage's retrieval score (relative to the best answer passage's, minus 1) counts when
# choosing the answer sentence; the retriever's score, not the served one, which already holds the
# sentence scores being compared. Measurements: docs/answers.md.
RANK_PRIOR = 0.25
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
    ) -> None:
        self.retriever = retriever
        self.answer_threshold = answer_threshold
        self.evidence_weight = evidence_weight
        self.scorer = SentenceScorer(retriever.reader, coverage_weight, centroid_weight)

    def rank(
        self, question: str, k: int, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> tuple[list[Hit], dict[int, list[ScoredSentence]]]:
        """The ``k`` best passages for ``question`` in the served order, and their sentences.

        What the question rules out ("besides Tworek") is not searched for: see
        ``search.rewrite``.
        """
        return self._rank_searched(drop_exclusions(question), k, mode, filters)

    def _rank_searched(
        self, searched: str, k: int, mode: Mode, filters: Filters | None
    ) -> tuple[list[Hit], dict[int, list[ScoredSentence]]]:
        """``rank`` for a question whose exclusions are already dropped."""
        retrieval = self.retriever.retrieve(searched, k, mode=mode, filters=filters)
        with timed(self.retriever.observe, "sentences"):
            return self.order(searched, retrieval.query, retrieval.hits, mode)

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
        hits, scored = self._rank_searched(searched, max(3 * k, 15), mode, request.filters)
        with timed(self.retriever.observe, "collapse"):
            groups = collapse(hits, scored, k, self.retriever.reader.sentence_vectors)
        rows = {h.chunk.id: h.chunk for h in hits}
        retrieved = [_retrieval_score(g.hit) for g in groups[:ANSWER_PASSAGES]]
        top = max(retrieved, default=0.0)
        extracted = extract_answer(
            [g.sentences for g in groups[:ANSWER_PASSAGES]],
            self.answer_threshold,
            priors=[RANK_PRIOR * (r / top - 1.0) if top > 0 else 0.0 for r in retrieved],
            question=searched,
        )
        answer = None
        if extracted is not None:
            said = {s.sentence_id for s in extracted.sentences}
            corroboration = [
                also
                for g in groups
                for also, repeated in zip(g.also_in, g.repeats, strict=True)
                if repeated in said
            ]
            answer = Answer(
                text=" ".join(s.text for s in extracted.sentences),
                citations=[_span(s, rows[s.chunk_id]) for s in extracted.sentences],
                also_in=[_span(s, rows[s.chunk_id]) for s in corroboration],
                confidence=extracted.confidence,
            )
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
