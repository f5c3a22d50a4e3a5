"""Prometheus metrics, one registry per app so several apps (tests) never collide.

Under `ragqa serve` with several worker processes, PROMETHEUS_MULTIPROC_DIR is set and every
worker writes its values there; /metrics (answered by any worker) adds them up, and reports gauges
per worker (a ``pid`` label).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

Observe = Callable[[str, float], None]

_LATENCY = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
# Fine enough below 30 ms for `make bench-scale` to read each stage's median from the buckets.
_STAGES = (
    0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
    0.1, 0.5,
)  # fmt: skip


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._served: tuple[str, str] | None = None
        r = self.registry
        self.requests = Counter(
            "ragqa_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "ragqa_request_duration_seconds",
            "HTTP request latency by route.",
            ["route", "method"],
            buckets=_LATENCY,
            registry=r,
        )
        self.stages = Histogram(
            "ragqa_stage_duration_seconds",
            "Time spent in each query stage (embed, dense, lexical, fuse, sentences, collapse).",
            ["stage"],
            buckets=_STAGES,
            registry=r,
        )
        self.index = Gauge(
            "ragqa_index_info",
            "The index version served (value 1).",
            ["version", "built_at"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.documents = Gauge(
            "ragqa_index_documents",
            "Documents in the served index.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.chunks = Gauge(
            "ragqa_index_passages",
            "Passages in the served index.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "ragqa_reloads", "Index reloads by result (success, failure).", ["result"], registry=r
        )
        self.rejected = Counter(
            "ragqa_rejected_requests", "Requests refused by a limit.", ["reason"], registry=r
        )

    def observe(self, stage: str, seconds: float) -> None:
        self.stages.labels(stage=stage).observe(seconds)

    def set_index(self, answerer: Any) -> None:
        reader = answerer.retriever.reader
        if self.shared and self._served is not None:
            # Shared values live in files that clear() does not reach: mark the old one unserved.
            self.index.labels(*self._served).set(0)
        elif not self.shared:
            self.index.clear()
        self._served = (reader.version, reader.built_at)
        self.index.labels(*self._served).set(1)
        counts = answerer.retriever.counts
        self.documents.set(counts["documents"])
        self.chunks.set(counts["chunks"])

    def render(self) -> bytes:
        """The text exposition format: this app's registry, or every worker's values."""
        if not self.shared:
            return bytes(generate_latest(self.registry))
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return bytes(generate_latest(registry))


@contextmanager
def timed(observe: Observe | None, stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        if observe is not None:
            observe(stage, time.perf_counter() - started)
