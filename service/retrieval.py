"""Query-time retrieval over one loaded index version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexer.embed import SentenceTransformerEmbedder
from indexer.errors import IndexMismatchError
from indexer.store import ChunkRow, IndexReader
from service.search.fusion import convex_fusion
from service.search.lexical import lexical_search

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRow
    score: float


def check_compatible(
    path: Path, manifest: dict[str, Any], embedder: SentenceTransformerEmbedder
) -> None:
    """Refuse an index whose vectors came from another model than the one loaded."""
    model = manifest["model"]
    fix = (
        f"rebuild it with `ragqa index --full --out {path}`, or set RAGQA_MODEL to the model "
        "it was built with"
    )
    if model["name"] != embedder.name or model["dimension"] != embedder.dimension:
        raise IndexMismatchError(
            f"index {path} was built with model {model['name']} ({model['dimension']} dims) but "
            f"the service runs {embedder.name} ({embedder.dimension} dims); {fix}"
        )
    probe = np.asarray(model["probe"], dtype=np.float32)
    if probe.shape != embedder.probe.shape or float(probe @ embedder.probe) < 0.99:
        raise IndexMismatchError(
            f"index {path} was built with different weights for model {model['name']}; {fix}"
        )


class Retriever:
    """Ranks the passages of one index version: BM25 and dense candidates, fused."""

    def __init__(
        self,
        reader: IndexReader,
        embedder: SentenceTransformerEmbedder,
        candidates: int = 100,
        dense_weight: float = 0.5,
    ) -> None:
        check_compatible(reader.path, reader.manifest, embedder)
        self.reader = reader
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight

    @classmethod
    def open(cls, path: Path, embedder: SentenceTransformerEmbedder, **options: Any) -> Retriever:
        return cls(IndexReader(path), embedder, **options)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.reader.manifest["counts"])

    def dense(self, question: str, k: int) -> list[tuple[int, float]]:
        scores, ids = self.reader.search(self.embedder.encode([question]), k)
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def lexical(self, question: str, k: int) -> list[tuple[int, float]]:
        return lexical_search(self.reader.db(), question, k)

    def rank(self, question: str, k: int, mode: Mode = "hybrid") -> list[tuple[int, float]]:
        """(chunk row id, score) best first."""
        if mode == "dense":
            return self.dense(question, k)
        if mode == "lexical":
            return self.lexical(question, k)
        n = max(k, self.candidates)
        # Scores are min-max normalised per list and blended; see README "Retrieval".
        fused = convex_fusion(
            [self.dense(question, n), self.lexical(question, n)],
            [self.dense_weight, 1.0 - self.dense_weight],
        )
        return fused[:k]

    def search(self, question: str, top_k: int, mode: Mode = "hybrid") -> list[Hit]:
        ranked = self.rank(question, top_k, mode)
        rows = self.reader.chunks(i for i, _ in ranked)
        return [Hit(rows[i], score) for i, score in ranked if i in rows]
