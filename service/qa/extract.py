"""Sentence-level evidence: which sentences of the retrieved passages answer the question.

A sentence scores ``cosine(question, sentence) - centroid_weight * centrality + coverage_weight *
coverage``. Coverage is the idf-weighted share of the question's content words (Porter stems) that
the sentence contains; centrality is how much more than the corpus's average sentence it resembles
the corpus's mean direction (see ``centrality``). The best sentence becomes the answer when its
score clears the abstention threshold; see docs/answers.md for how the
weights and threshold were measured.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from indexer.centrality import centrality
from indexer.reader import IndexReader
from service.qa.answer_types import REQUIRED, expected_kind, holds
from service.qa.retrieval import Hit
from service.qa.search.inflections import forms
from service.qa.search.lexical import lucene_idf, query_terms
from service.qa.spans import answer_span

_WORD = re.compile(r"\w+")
# How much a passage's retrieval score (relative to the best candidate passage's, minus 1) counts
# when choosing the answer sentence; the retriever's score, not the served one, which already holds
# the sentence scores being compared. Measurements: docs/answers.md.
RANK_PRIOR = 0.25


def rank_priors(retrieved: list[float], weight: float = RANK_PRIOR) -> list[float]:
    """Each passage's prior for its sentences, from the passages' retrieval scores."""
    top = max(retrieved, default=0.0)
    return [weight * (r / top - 1.0) if top > 0 else 0.0 for r in retrieved]


_NONE: frozenset[str] = frozenset()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=8192)
def words(text: str) -> tuple[str, ...]:
    """``text``'s words, case-folded; cached, as the same sentences recur across queries."""
    return tuple(_WORD.findall(text.casefold()))


@lru_cache(maxsize=8192)
def stems(text: str) -> frozenset[str]:
    """The Porter stems of ``text``'s words."""
    return frozenset(stem(w) for w in words(text))


_local = threading.local()


def _stemmer() -> Any:
    """This thread's stemmer: a Snowball stemmer keeps per-word state, so threads must not share
    one (concurrent requests corrupted each other's stems: IndexError, a 500)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        # Porter: the stems the coverage weight was tuned with (question and sentence alike).
        stemmer = _local.stemmer = snowballstemmer.stemmer("porter")
    return stemmer


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str
    dense: float  # cosine(question, sentence), before the centrality penalty
    coverage: float
    score: float
    is_title: bool = False  # the document's headline, repeated as its first line
    headline: float = 0.0  # cosine(question, the document's headline)


class SentenceScorer:
    def __init__(
        self,
        reader: IndexReader,
        coverage_weight: float = 0.5,
        centroid_weight: float = 0.25,
        inflections: bool = False,
    ) -> None:
        self.reader = reader
        self.coverage_weight = coverage_weight
        self.centroid_weight = centroid_weight
        # A question word is also covered by another form of its irregular verb ("left" covers
        # "leave"): the reranking pipeline's; without it, only by its own stem.
        self.inflections = inflections
        # Stored by the build; computed here (one pass over the sentence vectors) only for an
        # index built before it was stored.
        self.centrality: np.ndarray | None = None
        if centroid_weight:
            stored = reader.sentence_centrality
            self.centrality = stored if stored is not None else centrality(reader.sentence_vectors)

    def _idf(self, question: str) -> dict[str, float]:
        """Each question word's idf, keyed by its Porter stem (what ``stems`` gives a sentence).

        Document frequencies come from the lexical index, looked up by its own terms for the word.
        """
        lexical = self.reader.lexical
        idf: dict[str, float] = {}
        for word in query_terms(question):
            term = stem(word)
            if term and term not in idf:
                df = max(map(lexical.doc_freq, lexical.tokens([word])), default=0)
                idf[term] = lucene_idf(lexical.passages, df)
        return idf

    def _alternatives(self, question: str) -> dict[str, frozenset[str]]:
        """For each question term (stem), the stems of its word's other irregular forms."""
        if not self.inflections:
            return {}
        out = {}
        for word in query_terms(question):
            other = frozenset(stem(f) for f in forms(word))
            if other:
                out[stem(word)] = other
        return out

    def score(
        self, question: str, query: np.ndarray, hits: list[Hit]
    ) -> dict[int, list[ScoredSentence]]:
        """Scored sentences of each hit's passage, keyed by chunk id, in document order."""
        idf = self._idf(question)
        alternatives = self._alternatives(question)
        total = sum(idf.values()) or 1.0
        spans = self.reader.sentences(h.chunk for h in hits)
        ids = sorted({sid for sentences in spans.values() for sid, _, _ in sentences})
        if not ids:
            return {h.chunk.id: [] for h in hits}
        matrix = np.asarray(self.reader.sentence_vectors[ids], dtype=np.float32)
        cosines = matrix @ query
        adjusted = cosines
        if self.centrality is not None:
            adjusted = cosines - self.centroid_weight * self.centrality[ids]
        dense = dict(zip(ids, cosines.tolist(), strict=True))
        rows = sorted({h.chunk.headline for h in hits})
        headlines = np.asarray(self.reader.headline_vectors[rows], dtype=np.float32) @ query
        headline = dict(zip(rows, headlines.tolist(), strict=True))
        base = dict(zip(ids, adjusted.tolist(), strict=True))
        out: dict[int, list[ScoredSentence]] = {}
        for hit in hits:
            chunk = hit.chunk
            scored = []
            for sid, start, end in spans[chunk.id]:
                text = chunk.text[start - chunk.start : end - chunk.start]
                present = stems(text)
                covered = (
                    w
                    for t, w in idf.items()
                    if t in present or not alternatives.get(t, _NONE).isdisjoint(present)
                )
                coverage = sum(covered) / total
                scored.append(
                    ScoredSentence(
                        sid, chunk.id, chunk.doc_id, start, end, text, dense[sid], coverage,
                        base[sid] + self.coverage_weight * coverage,
                        is_title=start == 0 and text == chunk.title,
                        headline=headline[chunk.headline],
                    )
                )  # fmt: skip
            out[chunk.id] = scored
        return out


def rerank_by_evidence(
    hits: list[Hit], scored: dict[int, list[ScoredSentence]], weight: float
) -> list[Hit]:
    """Hits reordered by retrieval score, scaled to the best hit's, plus ``weight`` times the
    score of the passage's best sentence (headlines aside).

    Retrieval scores a passage as a whole; a passage holding one sentence that answers the
    question should come before one that is merely about the same things.
    """
    if not weight or not hits:
        return hits
    top = max(h.score for h in hits)
    scale = 1.0 / top if top > 0 else 1.0

    def evidence(hit: Hit) -> float:
        return max((s.score for s in scored[hit.chunk.id] if not s.is_title), default=0.0)

    reranked = [
        Hit(h.chunk, h.score * scale + weight * evidence(h), retrieval=h.score * scale)
        for h in hits
    ]
    return sorted(reranked, key=lambda h: -h.score)


def highlights(sentences: list[ScoredSentence], margin: float = 0.05) -> list[ScoredSentence]:
    """The passage's best sentence, and any other within ``margin`` of it, in document order."""
    if not sentences:
        return []
    best = max(s.score for s in sentences)
    return [s for s in sentences if s.score >= best - margin]


@dataclass(frozen=True)
class Extracted:
    sentences: list[ScoredSentence]
    score: float
    confidence: float


def extract_answer(
    candidates: list[list[ScoredSentence]],
    threshold: float,
    max_follow: int = 3,
    priors: list[float] | None = None,
    question: str = "",
) -> Extracted | None:
    """The best-scoring sentence across passages, with the neighbours that complete it (see
    ``spans``), or None when its score is below ``threshold``.

    ``priors`` (one per passage, 0 for the first and negative below it) are added to the scores
    of that passage's sentences, so between two nearly equal sentences the one from the passage
    ranked higher answers. When ``question`` asks for a kind of thing an answer cannot do without
    (an amount of money, an age, a position: ``answer_types.REQUIRED``), only a sentence that has
    one, or whose neighbour has one, may answer, and none is found when no candidate has it. A
    headline is never the answer: it summarises the article, and the body states it precisely.
    """
    bias = priors or [0.0] * len(candidates)
    kind = expected_kind(question) if question else None
    required = kind if kind in REQUIRED else None

    def eligible(sentences: list[ScoredSentence], j: int) -> bool:
        if sentences[j].is_title:
            return False
        if required is None:
            return True
        near = sentences[max(0, j - 1) : j + 2]
        return any(holds(s.text, required, question) for s in near if not s.is_title)

    flat = [
        (candidates[i][j].score + bias[i], i, j)
        for i, sentences in enumerate(candidates)
        for j in range(len(sentences))
        if eligible(sentences, j)
    ]
    if not flat:
        return None
    score, i, j = max(flat, key=lambda item: item[0])
    if score < threshold:
        return None
    chosen = answer_span(candidates[i], j, kind, question, max_follow)
    confidence = 1.0 / (1.0 + math.exp(-(score - threshold) / 0.1))
    return Extracted(chosen, score, round(confidence, 3))
