"""The ONNX query encoder agrees with PyTorch, is refused when it does not, and ranks the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelLoadError
from indexer.onnx_encoder import MIN_COSINE, PROBES, OnnxEncoder, agreement, load_onnx_encoder
from service.answer import Answerer
from service.evaluate import QUALITY_METRICS, evaluate_pipeline, load_questions
from service.retrieval import Retriever
from tests.conftest import QUESTIONS


@pytest.fixture(scope="module")
def onnx(embedder, tmp_path_factory: pytest.TempPathFactory) -> OnnxEncoder:  # type: ignore[no-untyped-def]
    return load_onnx_encoder(embedder, tmp_path_factory.mktemp("onnx"))


def test_onnx_embeddings_match_pytorch(onnx: OnnxEncoder, embedder) -> None:  # type: ignore[no-untyped-def]
    assert agreement(onnx, embedder) >= 0.999
    vectors = onnx.encode(PROBES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(PROBES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_export_is_cached(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_onnx_encoder(embedder, tmp_path)
    (exported,) = tmp_path.glob("*.onnx")
    mtime = exported.stat().st_mtime_ns
    load_onnx_encoder(embedder, tmp_path)
    assert exported.stat().st_mtime_ns == mtime


def test_an_encoder_that_disagrees_is_refused(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Dynamic INT8 quantisation of this small model moves embeddings below the bar.
    with pytest.raises(
        ModelLoadError, match=rf"disagrees with PyTorch \(lowest cosine 0\.\d+ < {MIN_COSINE}\)"
    ):
        load_onnx_encoder(embedder, tmp_path, int8=True)


def test_retrieval_metrics_are_unchanged(onnx: OnnxEncoder, retriever: Retriever) -> None:
    questions = load_questions(QUESTIONS)
    with_torch = evaluate_pipeline(Answerer(retriever), questions)["hybrid"]
    onnx_retriever = Retriever(retriever.reader, retriever.embedder, encoder=_Single(onnx))
    with_onnx = evaluate_pipeline(Answerer(onnx_retriever), questions)["hybrid"]
    for metric in QUALITY_METRICS:
        assert with_onnx[metric] == with_torch[metric], metric


class _Single:
    """The one-text interface Retriever expects of a batching encoder."""

    def __init__(self, encoder: OnnxEncoder) -> None:
        self.encoder = encoder

    def encode(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]
