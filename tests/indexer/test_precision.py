"""Batch encoding for an index in bfloat16: used where the CPU has it and the vectors agree."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import indexer.embed as embed
from indexer.clean import clean_document
from indexer.embed import SentenceTransformerEmbedder, native_bf16
from indexer.errors import ModelLoadError
from indexer.load import load_corpus
from tests.conftest import SEEDS, with_precision


@pytest.fixture(scope="module")
def passages() -> list[str]:
    docs = [clean_document(raw) for raw in load_corpus(SEEDS).documents]
    return [doc.text[i : i + 600] for doc in docs if doc for i in range(0, len(doc.text), 600)]


def test_bfloat16_vectors_agree_with_float32(embedder, passages: list[str]) -> None:  # type: ignore[no-untyped-def]
    exact = embedder.encode(passages)
    fast = embedder.encode(passages, dtype="bfloat16")
    cosines = np.sum(exact * fast, axis=1)
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    assert cosines.min() >= embed.BF16_MIN_COSINE
    assert not np.array_equal(exact, fast)  # it really ran in another arithmetic
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)


def test_auto_uses_bfloat16_only_on_a_cpu_that_has_it(embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert embedder.corpus_precision == ("bfloat16" if native_bf16() else "float32")
    monkeypatch.setattr(embed, "native_bf16", lambda: False)
    assert with_precision(embedder, "auto").corpus_precision == "float32"
    monkeypatch.setattr(embed, "native_bf16", lambda: True)
    assert with_precision(embedder, "auto").corpus_precision == "bfloat16"


def test_float32_setting_encodes_exactly(embedder, passages: list[str]) -> None:  # type: ignore[no-untyped-def]
    exact = with_precision(embedder, "float32")
    assert exact.corpus_precision == "float32"
    np.testing.assert_array_equal(exact.encode_corpus(passages[:8]), embedder.encode(passages[:8]))


def test_disagreeing_bfloat16_is_not_used(embedder, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(embed, "native_bf16", lambda: True)
    monkeypatch.setattr(embed, "BF16_MIN_COSINE", 1.01)  # no arithmetic but float32 can pass
    with caplog.at_level(logging.WARNING, logger="ragqa"):
        assert with_precision(embedder, "auto").corpus_precision == "float32"
    assert "disagrees with float32" in caplog.text
    with pytest.raises(ModelLoadError, match="RAGQA_INDEX_PRECISION=float32"):
        _ = with_precision(embedder, "bfloat16").corpus_precision


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        SentenceTransformerEmbedder(precision="fp8")
