"""BM25 over the SQLite FTS5 index of chunk text."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

# Function words that carry no topic; dropping them keeps BM25 from matching on "what did the".
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves also else besides tell
    according said say says""".split()
)
_WORD = re.compile(r"\w+(?:[.'’\-]\w+)*")
_CLITIC = re.compile(r"['’](?:s|t|d|ll|re|ve|m)\b")


def query_terms(text: str) -> list[str]:
    """Content words of a query, lower-cased and de-duplicated in order.

    Clitics go too ("OpenAI's" is "openai"): a lone "s" would match every possessive, and
    Porter stems it to nothing.
    """
    terms: list[str] = []
    for match in _WORD.finditer(_CLITIC.sub("", text.casefold())):
        for word in re.split(r"[.'’\-]", match.group()):
            if word and word not in STOPWORDS and word not in terms:
                terms.append(word)
    return terms


def fts_phrases(text: str) -> list[str]:
    """The query's terms as FTS5 phrases (quoting makes any user input syntactically safe)."""
    return ['"' + t.replace('"', '""') + '"' for t in query_terms(text)]


def lucene_idf(n: int, df: int) -> float:
    """BM25's idf as Lucene computes it: log(1 + (N - df + 0.5) / (df + 0.5)), always positive."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def fts5_idf(n: int, df: int) -> float:
    """The idf FTS5's bm25() applies: log((N - df + 0.5) / (df + 0.5)), floored at 1e-6."""
    idf = math.log((n - df + 0.5) / (df + 0.5))
    return idf if idf > 0 else 1e-6


def lexical_search(
    db: sqlite3.Connection,
    text: str,
    k: int,
    allowed: set[int] | None = None,
    passages: int | None = None,
) -> list[tuple[int, float]]:
    """(chunk row id, BM25 score) best first, over ``allowed`` ids when given.

    ``passages`` is how many rows the FTS5 table holds (counted when not given).

    FTS5 matches and scores (k1 1.2, b 0.75), but its idf is zero for a term in half the
    passages or more, and a news corpus names its subject in most of them: "Tworek" would weigh
    nothing in a question about Tworek. Each term is therefore scored alone and its FTS5 score
    rescaled to Lucene's idf, the BM25 of Elasticsearch and Pyserini, the published baselines.
    """
    phrases = fts_phrases(text)
    if not phrases:
        return []
    if passages is None:
        passages = int(db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0])
    count = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
    weighted: list[tuple[str, float]] = []
    for phrase in phrases:
        df = db.execute(count, (phrase,)).fetchone()[0]
        if df:
            weighted.append((phrase, lucene_idf(passages, df) / fts5_idf(passages, df)))
    if len(weighted) <= _TERMS_PER_QUERY:
        return _keep(db.execute(*_summed(weighted)), k, allowed) if weighted else []
    # A pasted paragraph can hold more terms than one compound SELECT may: sum batch by batch.
    scores: dict[int, float] = {}
    for at in range(0, len(weighted), _TERMS_PER_QUERY):
        for rowid, score in db.execute(*_summed(weighted[at : at + _TERMS_PER_QUERY])):
            scores[rowid] = scores.get(rowid, 0.0) + score
    return _keep(sorted(scores.items(), key=lambda r: (-r[1], r[0])), k, allowed)


# SQLite allows 500 SELECTs in one compound SELECT (SQLITE_MAX_COMPOUND_SELECT).
_TERMS_PER_QUERY = 250


def _summed(weighted: list[tuple[str, float]]) -> tuple[str, list[object]]:
    """SQL for (rowid, sum over phrases of weight × FTS5 bm25), best first, and its parameters."""
    # MATERIALIZED: bm25() must run in its own MATCH query, not in the outer aggregate.
    ctes = ", ".join(
        f"t{i} AS MATERIALIZED (SELECT rowid AS id, -bm25(chunks_fts) * ? AS s"
        " FROM chunks_fts WHERE chunks_fts MATCH ?)"
        for i in range(len(weighted))
    )
    union = " UNION ALL ".join(f"SELECT id, s FROM t{i}" for i in range(len(weighted)))
    sql = (
        f"WITH {ctes} SELECT id, sum(s) AS score FROM ({union}) GROUP BY id ORDER BY score DESC, id"
    )
    return sql, [v for phrase, weight in weighted for v in (weight, phrase)]


def _keep(rows: Iterable[Any], k: int, allowed: set[int] | None) -> list[tuple[int, float]]:
    """The first ``k`` (rowid, score) rows whose rowid is in ``allowed`` (any, when None)."""
    out: list[tuple[int, float]] = []
    for rowid, score in rows:
        if allowed is None or rowid in allowed:
            out.append((int(rowid), float(score)))
            if len(out) == k:
                break
    return out
