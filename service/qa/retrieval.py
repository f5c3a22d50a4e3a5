"""Query-time retrieval over one loaded index version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from indexer.errors import IndexMismatchError
from indexer.onnx_encoder import QueryEncoder
from indexer.reader import ChunkRow, IndexReader
from service.ops.metrics import Observe, timed
from service.qa.search.fusion import convex_fusion
from service.qa.search.lexical import lexical_search

if TYPE_CHECKING:
    from service.schemas import Filters

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("dense", "lexical", "hybrid")


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRow
    score: float
    # The retriever's own score, scaled to the best candidate's, when ``score`` adds more evidence.
    retrieval: float | None = None


@dataclass(frozen=True)
class Retrieval:
    query: np.ndarray  # the question's unit vector, reused for sentence scoring
    hits: list[Hit]


def check_compatible(path: Path, manifest: dict[str, Any], embedder: QueryEncoder) -> None:
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
        embedder: QueryEncoder,
        candidates: int = 100,
        dense_weight: float = 0.5,
        observe: Observe | None = None,
        encoder: Any = None,
        inflections: bool = False,
    ) -> None:
        check_compatible(reader.path, reader.manifest, embedder)
        # BM25 also matches the other forms of the question's irregular verbs (the reranking
        # pipeline's; without it, the terms are the question's words alone).
        self.inflections = inflections
        self.encoder = encoder  # a BatchingEncoder in the server; None encodes in the caller
        self.reader = reader
        self.embedder = embedder
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.observe = observe  # told how long each stage took

    @classmethod
    def open(
        cls, path: Path, embedder: QueryEncoder, nprobe: int = 32, **options: Any
    ) -> Retriever:
        return cls(IndexReader(path, nprobe=nprobe), embedder, **options)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.reader.manifest["counts"])

    def embed(self, question: str) -> np.ndarray:
        with timed(self.observe, "embed"):
            if self.encoder is not None:
                return np.asarray(self.encoder.encode(question))
            return self.embedder.encode([question])[0]

    def dense(
        self, query: np.ndarray, k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        with timed(self.observe, "dense"):
            scores, ids = self.reader.search(query[None, :], k, allowed)
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def lexical(
        self, question: str, k: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        with timed(self.observe, "lexical"):
            return lexical_search(self.reader.lexical, question, k, allowed, self.inflections)

    def rank(
        self,
        question: str,
        query: np.ndarray,
        k: int,
        mode: Mode = "hybrid",
        allowed: set[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk row id, score) best first, over ``allowed`` chunk ids when given."""
        if mode == "dense":
            return self.dense(query, k, allowed)
        if mode == "lexical":
            return self.lexical(question, k, allowed)
        n = max(k, self.candidates)
        dense, lexical = self.dense(query, n, allowed), self.lexical(question, n, allowed)
        # Scores are min-max normalised per list and blended; see docs/retrieval.md.
        with timed(self.observe, "fuse"):
            fused = convex_fusion([dense, lexical], [self.dense_weight, 1.0 - self.dense_weight])
        return fused[:k]

    def retrieve(
        self, question: str, k: int, mode: Mode = "hybrid", filters: Filters | None = None
    ) -> Retrieval:
        query = self.embed(question)
        allowed = self.reader.chunk_ids_matching(filters) if filters else None
        if allowed is not None and not allowed:
            return Retrieval(query, [])
        ranked = self.rank(question, query, k, mode, allowed)
        rows = self.reader.chunks(i for i, _ in ranked)
        return Retrieval(query, [Hit(rows[i], score) for i, score in ranked if i in rows])

    def search(self, question: str, top_k: int, mode: Mode = "hybrid") -> list[Hit]:
        return self.retrieve(question, top_k, mode).hits
