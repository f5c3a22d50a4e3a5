"""The traced PyTorch query encoder gives the eager model's vectors, and is only used when it can."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

from indexer.onnx_encoder import PROBES, agreement
from indexer.torch_encoder import TracedEncoder, mean_pooled, torch_query_encoder
from service.eval.evaluate import QUALITY_METRICS, evaluate_pipeline, load_questions
from service.qa.answer import Answerer
from service.qa.retrieval import Retriever
from tests.conftest import QUESTIONS


@pytest.fixture(scope="module")
def traced(embedder):  # type: ignore[no-untyped-def]
    encoder = torch_query_encoder(embedder)
    assert isinstance(encoder, TracedEncoder)
    return encoder


def test_traced_vectors_equal_the_eager_models(traced: TracedEncoder, embedder) -> None:  # type: ignore[no-untyped-def]
    assert agreement(traced, embedder) >= 0.9999
    # Shapes the trace never saw: one text at a time, and a batch padded to its longest.
    one_by_one = np.vstack([traced.encode([text]) for text in PROBES])
    np.testing.assert_allclose(one_by_one, embedder.encode(PROBES), atol=1e-4)
    np.testing.assert_allclose(traced.encode(PROBES), embedder.encode(PROBES), atol=1e-4)
    assert (traced.name, traced.dimension) == (embedder.name, embedder.dimension)
    assert float(traced.probe @ embedder.probe) >= 0.9999


def test_retrieval_metrics_are_unchanged(traced: TracedEncoder, retriever: Retriever) -> None:
    questions = load_questions(QUESTIONS)
    eager = evaluate_pipeline(Answerer(retriever), questions)["hybrid"]
    traced_metrics = evaluate_pipeline(Answerer(Retriever(retriever.reader, traced)), questions)
    for metric in QUALITY_METRICS:
        assert traced_metrics["hybrid"][metric] == eager[metric], metric


def test_only_plain_mean_pooling_models_are_traced(embedder, caplog) -> None:  # type: ignore[no-untyped-def]
    transformer = embedder._model[0]
    assert mean_pooled(embedder._model)
    assert mean_pooled([transformer, Pooling(384, pooling_mode="mean")])
    assert not mean_pooled([transformer, Pooling(384, pooling_mode="cls"), Normalize()])
    assert not mean_pooled([transformer, Pooling(384, pooling_mode="mean"), transformer])

    class ClsModel:
        """The bundled model, presented as if it pooled the CLS token."""

        def __init__(self) -> None:
            self.name, self.path, self.dimension = embedder.name, embedder.path, 384
            self._model = [transformer, Pooling(384, pooling_mode="cls")]

    cls_model = ClsModel()
    with caplog.at_level(logging.WARNING, logger="ragqa"):
        assert torch_query_encoder(cls_model) is cls_model  # type: ignore[arg-type]
    assert "not a plain mean-pooling model" in caplog.text
