"""BM25 over the SQLite FTS5 index of chunk text."""

from __future__ import annotations

import math
import re
import sqlite3

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


def fts_query(text: str) -> str | None:
    """An FTS5 OR-query of quoted terms (quoting makes any user input syntactically safe)."""
    phrases = [_phrase(t) for t in query_terms(text)]
    return " OR ".join(phrases) if phrases else None


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


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
    phrases = [_phrase(t) for t in query_terms(text)]
    if not phrases:
        return []
    if passages is None:
        passages = int(db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0])
    count = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
    ctes: list[str] = []
    params: list[object] = []
    for phrase in phrases:
        df = db.execute(count, (phrase,)).fetchone()[0]
        if df:
            # MATERIALIZED: bm25() must run in its own MATCH query, not in the outer aggregate.
            ctes.append(
                f"t{len(ctes)} AS MATERIALIZED (SELECT rowid AS id,"
                " -bm25(chunks_fts) * ? AS s FROM chunks_fts WHERE chunks_fts MATCH ?)"
            )
            params += [lucene_idf(passages, df) / fts5_idf(passages, df), phrase]
    if not ctes:
        return []
    union = " UNION ALL ".join(f"SELECT id, s FROM t{i}" for i in range(len(ctes)))
    sql = (
        f"WITH {', '.join(ctes)} SELECT id, sum(s) AS score FROM ({union})"
        " GROUP BY id ORDER BY score DESC, id"
    )
    if allowed is None:
        rows = db.execute(sql + " LIMIT ?", (*params, k)).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]
    out: list[tuple[int, float]] = []
    for rowid, score in db.execute(sql, params):
        if rowid in allowed:
            out.append((int(rowid), float(score)))
            if len(out) == k:
                break
    return out
