"""Encoder threads that embed queries, batching those that arrive together.

Why dedicated threads: every thread that runs PyTorch gets its own OpenMP team, and once two teams
exist on a two-core machine libgomp stops spinning between parallel regions: a query encoded on a
web server's worker thread took ~13 ms instead of ~6. So the PyTorch encoder is loaded *and* run on
one thread of its own, and nothing else ever runs PyTorch. The ONNX Runtime encoder has no such
problem; it runs on one thread per core (RAGQA_ENCODER_WORKERS), each single-threaded, so that
concurrent queries use both cores instead of both cores fighting over each query.
Why batching: while one batch is encoded, requests that arrive queue up and are encoded together in
the next one. Nothing waits on purpose: a request that arrives alone is encoded at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from indexer.onnx_encoder import TextEncoder


class BatchingEncoder:
    """Queues texts for ``workers`` encoder threads; the first one loads the encoder.

    Give ``encoder`` directly, or ``loader`` to have it built on the first encoder thread (what a
    PyTorch model needs). An encoder whose ``parallel_calls`` is False gets one thread whatever
    ``workers`` says.
    """

    def __init__(
        self,
        encoder: TextEncoder | None = None,
        workers: int = 1,
        max_batch: int = 32,
        start: bool = True,
        loader: Callable[[], TextEncoder] | None = None,
    ) -> None:
        if (encoder is None) == (loader is None):
            raise ValueError("give either encoder or loader")
        self._loader: Callable[[], TextEncoder | None] = loader or (lambda: encoder)
        self.encoder: TextEncoder | None = encoder
        self.workers = workers
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []  # recent batch sizes, for tests and diagnostics
        self._queue: queue.Queue[tuple[str, Future[np.ndarray]]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        if start:
            self.start()

    def start(self) -> None:
        """Start the threads; returns once the encoder is loaded, raising the loader's error."""
        ready: Future[TextEncoder | None] = Future()
        self._spawn(0, ready)
        self.encoder = ready.result()
        count = self.workers if getattr(self.encoder, "parallel_calls", True) else 1
        for i in range(1, count):
            self._spawn(i, None)

    def _spawn(self, i: int, ready: Future[TextEncoder | None] | None) -> None:
        thread = threading.Thread(
            target=self._run, args=(ready,), name=f"ragqa-encoder-{i}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def encode(self, text: str) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._queue.put((text, future))
        return future.result()

    def _run(self, ready: Future[TextEncoder | None] | None) -> None:
        if ready is not None:
            try:
                encoder = self._loader()
            except BaseException as e:  # the caller of start() reports it
                ready.set_exception(e)
                return
            ready.set_result(encoder)
        else:
            encoder = self.encoder
        assert encoder is not None
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
            try:
                vectors = encoder.encode([text for text, _ in batch])
            except Exception as e:  # hand the failure to every waiting request
                for _, future in batch:
                    future.set_exception(e)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                future.set_result(vector)
