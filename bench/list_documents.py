"""What MCP's list_documents costs on a large corpus: one page, filtered or not, at 1M documents.

    python bench/list_documents.py [--documents 1000000] [--chars 3000]

Fills the index's own `documents` table (indexer/store.py's schema) in a temporary SQLite file with
synthetic rows, then times `documents_page` (the query behind list_documents) for the first page
and a page half-way through, with no filter, a date filter, a source substring and a title
substring, against reading every match (what a total count would cost; list_documents gives none).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from indexer.reader import documents_page
from indexer.store import _SCHEMA
from service.schemas import Filters

WORDS = ["market", "openai", "tide", "election", "bank", "river", "court", "energy", "vote", "deal"]


def fill(db: sqlite3.Connection, n: int, chars: int) -> None:
    rng = random.Random(1)
    body = "x" * chars
    rows = (
        (
            f"doc{i:08d}",
            " ".join(rng.choices(WORDS, k=6)),
            f"https://site{i % 500}.example/{i}",
            f"20{rng.randint(10, 26)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            body,
        )
        for i in range(n)
    )
    db.executemany(
        "INSERT INTO documents (doc_id, title, source, published, path, format, text,"
        " content_hash) VALUES (?, ?, ?, ?, 'p', 'txt', ?, 'h')",
        rows,
    )
    db.commit()


def say(line: str) -> None:
    print(line)  # noqa: T201 - this is the report


def median_ms(call: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--chars", type=int, default=3000, help="Text length of each document.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "chunks.sqlite")
        db.executescript(_SCHEMA)
        start = time.perf_counter()
        fill(db, args.documents, args.chars)
        took = time.perf_counter() - start
        say(f"{args.documents:,} documents of {args.chars} characters, filled in {took:.0f} s")
        middle = f"doc{args.documents // 2:08d}"
        cases: dict[str, tuple[Filters | None, str | None]] = {
            "no filter": (None, None),
            "published_after": (Filters(published_after=date(2025, 1, 1)), None),
            "source_contains": (Filters(source_contains="site42."), None),
            "title_contains": (None, "openai tide"),
        }
        say(f"{'filter':16s} {'first page':>11s} {'page at 50%':>12s} {'every match':>14s}")
        for name, (filters, title) in cases.items():

            def page(after: str | None, limit: int = 21) -> Any:
                return documents_page(db, filters, title, after, limit)  # noqa: B023 - used at once

            first, later = median_ms(lambda: page(None)), median_ms(lambda: page(middle))
            every = median_ms(lambda: page(None, -1), repeat=3)
            say(f"{name:16s} {first:8.1f} ms {later:9.1f} ms {every:11.1f} ms")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
