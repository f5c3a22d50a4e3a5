"""The vector index type follows corpus size; the approximate index stays close to exact search."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.build import build_index
from indexer.store import choose_index_type, make_vector_index, resolve_version
from service.eval.evaluate import load_questions
from service.qa.retrieval import Retriever
from tests.conftest import QUESTIONS


def test_choice_follows_size() -> None:
    assert choose_index_type(1_000) == "flat"
    assert choose_index_type(24_999) == "flat"
    assert choose_index_type(25_000) == "ivf"
    assert choose_index_type(50, threshold=10) == "ivf"
    assert choose_index_type(10**7, "flat") == "flat"
    with pytest.raises(ValueError, match=r"index type must be auto, flat or ivf, got 'hnsw'"):
        choose_index_type(10, "hnsw")


def clustered(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(1, n // 100), dim)).astype(np.float32)
    x = centers[rng.integers(0, len(centers), n)] + 0.5 * rng.standard_normal((n, dim)).astype(
        np.float32
    )
    faiss.normalize_L2(x)
    return x


def test_ivf_recall_against_exact_search() -> None:
    x = clustered(20_000)
    queries = x[:100] + 0.05 * clustered(100, seed=1)
    faiss.normalize_L2(queries)
    _, exact = make_vector_index(x, "flat").search(queries, 10)
    ivf = make_vector_index(x, "ivf")
    assert isinstance(ivf, faiss.IndexIVF) and ivf.nlist == int(4 * np.sqrt(20_000))
    ivf.nprobe = 32
    _, approx = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95, recall


def test_seed_index_as_ivf_ranks_like_flat(
    seed_index: Path, corpus: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ivf"
    report = build_index(corpus, out, embedder, index_type="ivf")
    version = resolve_version(out)
    assert json.loads((version / "manifest.json").read_text())["vectors"]["faiss_index"] == "ivf"
    assert (version / "passages.npy").is_file()  # exact vectors kept for lossless reuse
    assert build_index(corpus, out, embedder, index_type="ivf").embedded == 0
    ivf, flat = Retriever.open(out, embedder), Retriever.open(seed_index, embedder)
    assert isinstance(ivf.reader.vectors, faiss.IndexIVF)
    overlap = []
    for q in load_questions(QUESTIONS):
        a = [h.chunk.chunk_id for h in ivf.search(q.question, 10, "dense")]
        b = [h.chunk.chunk_id for h in flat.search(q.question, 10, "dense")]
        overlap.append(len(set(a) & set(b)) / 10)
    assert np.mean(overlap) >= 0.95 and report.chunks == flat.reader.vectors.ntotal
