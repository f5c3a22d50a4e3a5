"""Query-time retrieval over one loaded index version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.embed import SentenceTransformerEmbedder
from indexer.errors import IndexMismatchError
from indexer.store import ChunkRow, IndexReader


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRow
    score: float


def check_compatible(path: Path, manifest: dict[str, Any], embedder: SentenceTransformerEmbedder) -> None:
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
    """Embeds a question and ranks the passages of one index version."""

    def __init__(self, reader: IndexReader, embedder: SentenceTransformerEmbedder) -> None:
        check_compatible(reader.path, reader.manifest, embedder)
        self.reader = reader
        self.embedder = embedder

    @classmethod
    def open(cls, path: Path, embedder: SentenceTransformerEmbedder) -> Retriever:
        return cls(IndexReader(path), embedder)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.reader.manifest["counts"])

    def search(self, question: str, top_k: int) -> list[Hit]:
        query = self.embedder.encode([question])
        scores, ids = self.reader.search(query, top_k)
        rows = self.reader.chunks(ids[0])
        return [
            Hit(rows[int(i)], float(s)) for s, i in zip(scores[0], ids[0], strict=True) if int(i) in rows
        ]
