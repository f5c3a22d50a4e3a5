"""Combine ranked lists from several retrievers into one ranking."""

from __future__ import annotations

from collections.abc import Sequence

Ranking = Sequence[tuple[int, float]]  # (id, score), best first


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = 60) -> list[tuple[int, float]]:
    """Cormack et al. (2009): sum of 1 / (k + rank) over the lists an id appears in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (doc, _) in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def convex_fusion(rankings: Sequence[Ranking], weights: Sequence[float]) -> list[tuple[int, float]]:
    """Weighted sum of per-query min-max normalised scores; absent ids score 0 in that list."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if not ranking:
            continue
        values = [s for _, s in ranking]
        low, high = min(values), max(values)
        span = high - low or 1.0
        for doc, score in ranking:
            scores[doc] = scores.get(doc, 0.0) + weight * (score - low) / span
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
