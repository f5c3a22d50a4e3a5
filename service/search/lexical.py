"""BM25 over the SQLite FTS5 index of chunk text."""

from __future__ import annotations

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
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def lexical_search(
    db: sqlite3.Connection, text: str, k: int, allowed: set[int] | None = None
) -> list[tuple[int, float]]:
    """(chunk row id, BM25 score) best first, over ``allowed`` ids when given."""
    query = fts_query(text)
    if query is None:
        return []
    sql = (
        "SELECT rowid, -bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ?"
        " ORDER BY score DESC"
    )
    if allowed is None:
        rows = db.execute(sql + " LIMIT ?", (query, k)).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]
    out: list[tuple[int, float]] = []
    for rowid, score in db.execute(sql, (query,)):
        if rowid in allowed:
            out.append((int(rowid), float(score)))
            if len(out) == k:
                break
    return out
