"""One inference thread that embeds queries, batching those that arrive together.

Why a dedicated thread: PyTorch gives every calling thread its own OpenMP team, and teams interfere;
query encodings spread over a web server's worker threads took ~15 ms instead of ~8 on two cores.
All query encodings therefore run on RAGQA_ENCODER_WORKERS threads (default 1), each using
RAGQA_QUERY_THREADS cores (default 2); with the default ONNX encoder that is ~4-5 ms a query here.
Why batching: while one batch is encoded, requests that arrive queue up and are encoded together in
the next one. Nothing waits on purpose: a request that arrives alone is encoded at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

import numpy as np


class BatchingEncoder:
    def __init__(
        self, embedder: Any, workers: int = 1, max_batch: int = 32, start: bool = True
    ) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []  # recent batch sizes, for tests and diagnostics
        self._queue: queue.Queue[tuple[str, Future[np.ndarray]]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, name=f"ragqa-encoder-{i}", daemon=True)
            for i in range(workers)
        ]
        if start:
            self.start()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def encode(self, text: str) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._queue.put((text, future))
        return future.result()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
            try:
                vectors = self.embedder.encode([text for text, _ in batch])
            except Exception as e:  # hand the failure to every waiting request
                for _, future in batch:
                    future.set_exception(e)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)
