"""Zero-downtime index reloads: load the new version beside the old one, then swap.

A request takes the answerer from ``app.state`` once, when it starts, and keeps it to the end:
requests in flight finish on the old version, and new requests see the new one only once it is
fully loaded and checked. A version that fails to load is refused with a log line; the old one
keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from indexer.errors import ModelLoadError, RagqaError
from indexer.store import resolve_version

log = logging.getLogger("ragqa")


@dataclass(frozen=True)
class ReloadResult:
    status: str  # "reloaded" or "unchanged"
    version: str
    previous: str | None


class Reloader:
    def __init__(self, app: Any, load: Callable[..., Any]) -> None:
        self.app = app
        self._load = load  # (settings, encoder, observe, batching encoder) -> Answerer
        self._lock = threading.Lock()
        self._refused: Path | None = None  # a broken version is not retried until current moves

    def target(self) -> Path | None:
        try:
            return resolve_version(self.app.state.settings.index_dir)
        except RagqaError:
            return None

    def served(self) -> Path | None:
        answerer = self.app.state.answerer
        return answerer.retriever.reader.path if answerer is not None else None

    def reload(self, force: bool = False) -> ReloadResult:
        """Load the version ``current`` points at unless it is served already; raise on failure."""
        with self._lock:
            state = self.app.state
            previous = state.answerer.retriever.reader.version if state.answerer else None
            target = self.target()
            if target is not None and target == self.served() and not force:
                return ReloadResult("unchanged", previous or "", previous)
            metrics = state.metrics
            try:
                if state.encoder is None or state.encoder.encoder is None:
                    raise ModelLoadError(state.load_error or "the query encoder is not loaded")
                # The cross-encoder does not depend on the index: the new version reuses it.
                served = state.answerer.reranker if state.answerer is not None else None
                answerer = self._load(
                    state.settings,
                    state.encoder.encoder,
                    state.metrics.observe,
                    state.encoder,
                    cross_encoder=served.cross_encoder if served is not None else None,
                )
            except RagqaError as e:
                self._refused = target
                metrics.reloads.labels(result="failure").inc()
                log.error(
                    "reload refused, still serving %s: %s",
                    previous or "nothing",
                    e,
                    extra={"event": "reload_failed"},
                )
                raise
            state.answerer = answerer  # one reference swap: the new version is complete here
            state.load_error = None
            self._refused = None
            metrics.reloads.labels(result="success").inc()
            metrics.set_index(answerer)
            version = answerer.retriever.reader.version
            log.info(
                "now serving index version %s (was %s)",
                version,
                previous,
                extra={"event": "reloaded"},
            )
            return ReloadResult("reloaded", version, previous)

    async def watch(self, interval: float) -> None:
        """Poll the ``current`` pointer and reload when it moves."""
        while True:
            await asyncio.sleep(interval)
            target = self.target()
            if target is None or target == self.served() or target == self._refused:
                continue
            # A failure is logged by reload(); the old version keeps serving.
            with contextlib.suppress(RagqaError):
                await run_in_threadpool(self.reload)


class Follower:
    """The answerer for a process without the HTTP app (``ragqa mcp``): loaded at start, then
    reloaded by a daemon thread whenever the index root's ``current`` pointer moves, as the HTTP
    server's watcher does. A version that fails to load is logged and skipped; the old one stays.
    """

    def __init__(self, index_dir: Path, load: Callable[[Any], Any], interval: float) -> None:
        self.index_dir = index_dir
        self._load = load  # (the answerer being replaced, or None) -> a new answerer
        self.interval = interval
        self.answerer: Any = None
        self.error: str | None = None
        self._tried: Path | None = None

    def _target(self) -> Path | None:
        try:
            return resolve_version(self.index_dir)
        except RagqaError as e:
            if self.answerer is None:
                self.error = str(e)
            return None

    def check(self) -> None:
        """Load the version ``current`` points at, unless it was loaded (or refused) already."""
        target = self._target()
        if target is None or target == self._tried:
            return
        self._tried = target
        try:
            answerer = self._load(self.answerer)
        except RagqaError as e:
            if self.answerer is None:
                self.error = str(e)
            log.error("could not load index version %s: %s", target.name, e)
            return
        previous = self.answerer
        self.answerer, self.error = answerer, None  # one reference swap
        if previous is not None:
            log.warning("now serving index version %s", answerer.retriever.reader.version)

    def start(self) -> None:
        """Poll in a daemon thread (it ends with the process)."""

        def loop() -> None:
            while True:
                time.sleep(self.interval)
                try:
                    self.check()
                except Exception:  # never let the watcher die silently
                    log.exception("index reload check failed")

        threading.Thread(target=loop, name="ragqa-index-follower", daemon=True).start()
