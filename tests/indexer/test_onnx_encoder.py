"""The ONNX query encoders agree with PyTorch, are refused when they do not, and rank the same."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelLoadError
from indexer.onnx_encoder import (
    MIN_COSINE,
    PROBES,
    OnnxEncoder,
    agreement,
    export_path,
    load_onnx_encoder,
    open_onnx_encoder,
)
from service.eval.evaluate import QUALITY_METRICS, evaluate_pipeline, load_questions
from service.qa.answer import Answerer
from service.qa.retrieval import Retriever
from tests.conftest import QUESTIONS


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module", params=[False, True], ids=["float32", "int8"])
def onnx(request, embedder, exports: Path) -> OnnxEncoder:  # type: ignore[no-untyped-def]
    try:
        return load_onnx_encoder(embedder, exports, int8=request.param)
    except ModelLoadError as e:
        # ONNX Runtime's INT8 kernels differ by CPU and release (0.988 was seen here before the
        # attention output projections were kept in float32; 0.991 now). An export that disagrees
        # is refused, as tested below, and the server uses the float32 export; its quality can
        # only be checked where it loads.
        if not request.param or "disagrees with PyTorch" not in str(e):
            raise
        pytest.skip(f"INT8 export refused on this CPU: {e}")


def test_onnx_embeddings_match_pytorch(onnx: OnnxEncoder, embedder) -> None:  # type: ignore[no-untyped-def]
    assert agreement(onnx, embedder) >= MIN_COSINE
    assert onnx.agreement() == pytest.approx(agreement(onnx, embedder), abs=1e-5)
    vectors = onnx.encode(PROBES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(PROBES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx.name, onnx.dimension) == (embedder.name, embedder.dimension)


def test_float32_export_is_near_exact(embedder, exports: Path) -> None:  # type: ignore[no-untyped-def]
    assert agreement(load_onnx_encoder(embedder, exports), embedder) >= 0.999


def test_export_is_cached_and_loads_without_pytorch(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert open_onnx_encoder(str(embedder.path), tmp_path) is None  # nothing exported yet
    load_onnx_encoder(embedder, tmp_path)
    exported = export_path(str(embedder.path), tmp_path)
    mtime = exported.stat().st_mtime_ns
    encoder = open_onnx_encoder(str(embedder.path), tmp_path)  # no embedder involved
    assert encoder is not None and exported.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".{exported.name}.lock",  # taken while exporting, so processes export once
        exported.with_suffix(".json").name,
        exported.name,
    ]


def test_an_encoder_that_disagrees_is_refused(embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    load_onnx_encoder(embedder, tmp_path)
    sidecar = export_path(str(embedder.path), tmp_path).with_suffix(".json")
    info = json.loads(sidecar.read_text())
    # PyTorch's reference embeddings, each paired with another probe's: nothing agrees now.
    info["reference"] = info["reference"][1:] + info["reference"][:1]
    sidecar.write_text(json.dumps(info))
    with pytest.raises(
        ModelLoadError, match=rf"disagrees with PyTorch \(lowest cosine 0\.\d+ < {MIN_COSINE}\)"
    ):
        open_onnx_encoder(str(embedder.path), tmp_path)


def test_retrieval_metrics_are_unchanged(onnx: OnnxEncoder, retriever: Retriever) -> None:
    questions = load_questions(QUESTIONS)
    with_torch = evaluate_pipeline(Answerer(retriever), questions)["hybrid"]
    onnx_retriever = Retriever(retriever.reader, onnx, encoder=_Single(onnx))
    with_onnx = evaluate_pipeline(Answerer(onnx_retriever), questions)["hybrid"]
    for metric in QUALITY_METRICS:
        if metric == "answer_accuracy":
            # The answer is the best-scoring sentence, and INT8 moves cosines by a few thousandths:
            # a near tie may go either way ("What position did Tworek hold at OpenAI?": its two
            # best sentences are 0.007 apart with PyTorch, and INT8 picks the other). One of 20.
            assert abs(with_onnx[metric] - with_torch[metric]) <= 0.05 + 1e-9, metric
        else:
            assert with_onnx[metric] == with_torch[metric], metric


class _Single:
    """The one-text interface Retriever expects of a batching encoder."""

    def __init__(self, encoder: OnnxEncoder) -> None:
        self.encoder = encoder

    def encode(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]
