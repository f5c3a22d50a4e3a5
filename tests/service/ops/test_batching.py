"""Queries that arrive together are embedded in one batch, with the same vectors as alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.ops.batching import BatchingEncoder

QUESTIONS = [f"Question number {i} about OpenAI research?" for i in range(8)]


def test_waiting_queries_are_encoded_in_one_batch(embedder) -> None:  # type: ignore[no-untyped-def]
    encoder = BatchingEncoder(embedder, workers=1, start=False)
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        results[i] = encoder.encode(QUESTIONS[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    while encoder._queue.qsize() < 8:  # all eight are waiting before the worker starts
        threading.Event().wait(0.01)
    encoder.start()
    for t in threads:
        t.join(timeout=60)
    assert encoder.batch_sizes == [8]
    alone = embedder.encode(QUESTIONS)
    for i in range(8):
        np.testing.assert_allclose(results[i], alone[i], atol=1e-5)


def test_a_lone_query_is_encoded_at_once_and_errors_reach_the_caller(embedder) -> None:  # type: ignore[no-untyped-def]
    encoder = BatchingEncoder(embedder, workers=2)
    np.testing.assert_allclose(
        encoder.encode(QUESTIONS[0]), embedder.encode(QUESTIONS[:1])[0], atol=1e-5
    )
    assert encoder.batch_sizes == [1]

    class Broken:
        def encode(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        BatchingEncoder(Broken()).encode("anything")
