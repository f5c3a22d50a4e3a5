"""BM25 engines side by side on one synthetic corpus: how the lexical stage was chosen.

    python bench/lexical.py [--passages 1000000] [--questions 100]

Indexes the same passages (bench/synthetic.py) in SQLite FTS5 as ragqa used it until index
format 3 (each term scored in its own query, rescaled to Lucene's idf), and in Tantivy as ragqa
uses it now (indexer/lexical.py); `bm25s` too when it is installed (`pip install bm25s PyStemmer`).
Prints build seconds, size on disk, query p50/p99 and how much of FTS5's top 10 each engine shares.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import make_corpus, questions

from indexer.lexical import LexicalIndex, write_lexical
from service.qa.search.lexical import lexical_search, lucene_idf, query_terms


def fts5_search(db: sqlite3.Connection, text: str, k: int, n: int) -> list[int]:
    """The FTS5 path of format 2: a df count per term, then summed per-term bm25() rescaled."""
    phrases = ['"' + t.replace('"', '""') + '"' for t in query_terms(text)]
    count = "SELECT count(*) FROM fts WHERE fts MATCH ?"
    weighted = []
    for phrase in phrases:
        df = db.execute(count, (phrase,)).fetchone()[0]
        if df:
            fts5_idf = max(math.log((n - df + 0.5) / (df + 0.5)), 1e-6)
            weighted.append((lucene_idf(n, df) / fts5_idf, phrase))
    if not weighted:
        return []
    ctes = ", ".join(
        f"t{i} AS MATERIALIZED (SELECT rowid AS id, -bm25(fts) * ? AS s FROM fts WHERE fts MATCH ?)"
        for i in range(len(weighted))
    )
    union = " UNION ALL ".join(f"SELECT id, s FROM t{i}" for i in range(len(weighted)))
    sql = f"WITH {ctes} SELECT id FROM ({union}) GROUP BY id ORDER BY sum(s) DESC, id LIMIT ?"
    return [r[0] for r in db.execute(sql, [v for pair in weighted for v in pair] + [k])]


def say(line: str) -> None:
    print(line)  # noqa: T201 - this is the report


def timed(fn, qs: list[str]) -> tuple[str, dict[str, list[int]]]:  # type: ignore[no-untyped-def]
    for q in qs[:5]:
        fn(q)
    lat, out = [], {}
    for q in qs:
        started = time.perf_counter()
        out[q] = fn(q)
        lat.append(time.perf_counter() - started)
    ms = np.asarray(lat) * 1000
    return f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms", out


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    corpus = make_corpus(args.passages)
    qs = questions(corpus, args.questions)
    texts = [c.text for c in corpus.chunks]
    del corpus
    work = Path(tempfile.mkdtemp(prefix="ragqa-lexical-"))
    try:
        started = time.perf_counter()
        db = sqlite3.connect(work / "fts.sqlite")
        db.execute("CREATE VIRTUAL TABLE fts USING fts5(text, content='', tokenize='porter unicode61 remove_diacritics 2')")  # fmt: skip
        db.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", enumerate(texts))
        db.commit()
        say(
            f"FTS5: built in {time.perf_counter() - started:.0f} s, {size_mib(work / 'fts.sqlite')} MiB"
        )
        line, fts5 = timed(lambda q: fts5_search(db, q, 100, len(texts)), qs)
        say(f"FTS5, per-term queries: {line}")

        started = time.perf_counter()
        write_lexical(work / "tantivy", texts)
        index = LexicalIndex(work / "tantivy")
        say(
            f"Tantivy: built in {time.perf_counter() - started:.0f} s, {size_mib(work / 'tantivy')} MiB"
        )
        line, found = timed(lambda q: [i for i, _ in lexical_search(index, q, 100)], qs)
        say(f"Tantivy: {line}, top-10 overlap with FTS5 {overlap(fts5, found):.3f}")

        try:
            import bm25s
            import Stemmer
        except ImportError:
            say("bm25s: not installed, skipped")
            return 0
        stemmer = Stemmer.Stemmer("porter")
        started = time.perf_counter()
        tokens = bm25s.tokenize(texts, stopwords=None, stemmer=stemmer, token_pattern=r"(?u)\b\w+\b", show_progress=False)  # fmt: skip
        retriever = bm25s.BM25(method="lucene")
        retriever.index(tokens, show_progress=False)
        retriever.save(work / "bm25s")
        say(
            f"bm25s: built in {time.perf_counter() - started:.0f} s, {size_mib(work / 'bm25s')} MiB"
        )
        loaded = bm25s.BM25.load(work / "bm25s", mmap=True)
        vocab = loaded.vocab_dict

        def bm25s_search(q: str) -> list[int]:
            ids = [vocab[s] for s in {stemmer.stemWord(t) for t in query_terms(q)} if s in vocab]
            scores = loaded.get_scores(ids)
            top = np.argpartition(-scores, 100)[:100]
            return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]

        line, found = timed(bm25s_search, qs)
        say(f"bm25s: {line}, top-10 overlap with FTS5 {overlap(fts5, found):.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def overlap(a: dict[str, list[int]], b: dict[str, list[int]]) -> float:
    shares = [len(set(a[q][:10]) & set(b[q][:10])) / max(1, len(a[q][:10])) for q in a]
    return float(np.mean(shares))


if __name__ == "__main__":
    sys.exit(main())
