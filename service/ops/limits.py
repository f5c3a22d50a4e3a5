"""Per-key rate limits and a bound on concurrent searches."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests, with bursts up to the same number."""

    # Whether acquire() may wait (on a lock held by another process): then not on the event loop.
    blocking = False

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before retrying."""
        now = time.monotonic()
        with self._lock:
            tokens, wait = self._take(self._buckets.get(client, (self.capacity, now)), now)
            self._buckets[client] = (tokens, now)
            return wait

    def _take(self, bucket: tuple[float, float], now: float) -> tuple[float, float]:
        """(tokens left, seconds to wait) after refilling ``bucket`` = (tokens, last) to ``now``."""
        tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
        if tokens >= 1.0:
            return tokens - 1.0, 0.0
        return tokens, (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))


class SharedRateLimiter(RateLimiter):
    """The same buckets kept in a SQLite file, so that the worker processes of one server share
    them (a client's requests may reach any worker). Clock: CLOCK_MONOTONIC, system-wide."""

    blocking = True

    def __init__(self, path: Path, per_minute: int) -> None:
        super().__init__(per_minute)
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            # The buckets outlive no server: no fsync. (Switching to WAL would need an exclusive
            # lock that workers starting together fight over.)
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE IF NOT EXISTS buckets "
                "(client TEXT PRIMARY KEY, tokens REAL, last REAL)"
            )
            self._local.db = db
        return db

    def acquire(self, client: str) -> float:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")  # one writer at a time across processes
        try:
            now = time.monotonic()
            row = db.execute(
                "SELECT tokens, last FROM buckets WHERE client = ?", (client,)
            ).fetchone()
            tokens, wait = self._take(row or (self.capacity, now), now)
            db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (client, tokens, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return wait


class SearchSlots:
    """At most ``limit`` searches at once (per worker process); the next one is refused instead of
    queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.in_use >= self.limit:
                return False
            self.in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.in_use -= 1
