"""Lexical retrieval: the question's content words, scored by BM25 over the Tantivy index."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from service.qa.search.inflections import expand

if TYPE_CHECKING:
    from indexer.lexical import LexicalIndex

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


def lucene_idf(n: int, df: int) -> float:
    """BM25's idf as Lucene computes it: log(1 + (N - df + 0.5) / (df + 0.5)), always positive."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def lexical_search(
    index: LexicalIndex,
    text: str,
    k: int,
    allowed: set[int] | None = None,
    inflections: bool = False,
) -> list[tuple[int, float]]:
    """(chunk row id, BM25 score) best first, over ``allowed`` ids when given.

    The question's content words (``query_terms``) are its terms, with the other forms of its
    irregular verbs when ``inflections`` ("leave" also finds "left"); any other input is just
    words, never query syntax.
    """
    terms = query_terms(text)
    if inflections:
        terms = expand(terms, STOPWORDS)
    return index.search(index.tokens(terms), k, allowed)
