"""Duplicate collapse: k different pieces of information, the repeats kept as corroboration.

A passage is a repeat when its most relevant sentence says what a sentence of a passage already
kept says: the two sentences' embeddings are near-identical, or most of the shorter one's word
trigrams appear in the other (a shared quote inside differently worded sentences). A repeat from
another document is attached to the kept passage as corroborating evidence; a repeat from the same
document (overlapping passages) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from service.qa.extract import ScoredSentence, words
from service.qa.retrieval import Hit

SIMILARITY = 0.9
TRIGRAM_CONTAINMENT = 0.6


@dataclass
class Group:
    hit: Hit
    sentences: list[ScoredSentence]
    also_in: list[ScoredSentence] = field(default_factory=list)
    # For each also_in entry, the id of this passage's sentence it repeats.
    repeats: list[int] = field(default_factory=list)


@lru_cache(maxsize=8192)
def _trigrams(text: str) -> frozenset[tuple[str, ...]]:
    w = words(text)
    return frozenset(w[i : i + 3] for i in range(len(w) - 2))


class _Matcher:
    def __init__(self, vectors: np.ndarray, ids: list[int]) -> None:
        self._vec = dict(zip(ids, np.asarray(vectors[ids], dtype=np.float32), strict=True))

    def same(self, a: ScoredSentence, b: ScoredSentence) -> bool:
        # Vector by vector: a matrix product would wake BLAS's thread pool, which then competes
        # with PyTorch's for the cores (measured: an in-process query 12 -> 70 ms).
        if a.sentence_id == b.sentence_id:
            return True
        if float(self._vec[a.sentence_id] @ self._vec[b.sentence_id]) >= SIMILARITY:
            return True
        ga, gb = _trigrams(a.text), _trigrams(b.text)
        shorter = min(len(ga), len(gb))
        return shorter >= 3 and len(ga & gb) / shorter >= TRIGRAM_CONTAINMENT


def collapse(
    hits: list[Hit], scored: dict[int, list[ScoredSentence]], k: int, vectors: np.ndarray
) -> list[Group]:
    """Keep the first ``k`` passages that add new information, in rank order."""
    ids = sorted({s.sentence_id for sentences in scored.values() for s in sentences})
    match = _Matcher(vectors, ids) if ids else None
    groups: list[Group] = []
    for hit in hits:
        sentences = scored.get(hit.chunk.id, [])
        key = max(sentences, key=lambda s: s.score) if sentences else None
        owner, matched = None, None
        if key is not None and match is not None:
            owner, matched = next(
                ((g, s) for g in groups for s in g.sentences if match.same(key, s)), (None, None)
            )
        if owner is None or matched is None or key is None:
            if len(groups) < k:
                groups.append(Group(hit, sentences))
            continue
        known = {owner.hit.chunk.doc_id} | {s.doc_id for s in owner.also_in}
        if key.doc_id not in known:
            owner.also_in.append(key)
            owner.repeats.append(matched.sentence_id)
    return groups
