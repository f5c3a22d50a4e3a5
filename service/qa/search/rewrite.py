"""Question rewriting before retrieval: what the asker says they do not want is not searched for.

"Who else left OpenAI besides Tworek?" names Tworek to rule him out, yet both retrievers reward
the passages that mention him most: BM25 for the term, the embedding for the topic. Searching
for "Who else left OpenAI?" instead finds the others. An exclusion is a marker ("besides",
"other than", "except (for)", "apart from", "aside from", "excluding", "not including", "not
counting") and the noun phrase after it. Without a parser the phrase is bounded conservatively:
a run of capitalised words (a name, "GPT-4 and o1" joined by "and"/"or"), or else at most four
lower-case words that end the clause (punctuation or the question's end next). When no phrase
can be found, or nothing would be left to search for, nothing is removed.

Only questions are rewritten (a "?" at the end, or a question word or auxiliary first). In a
statement, such as a passage pasted in to find related text, "except X" may name the very subject:
"All drugs except marijuana should stay illegal."
"""

from __future__ import annotations

import re

from service.qa.search.lexical import query_terms

_MARKER = re.compile(
    r"\b(?:besides|other than|except(?: for)?|apart from|aside from|excluding|"
    r"not including|not counting)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\w+(?:[.'’\-]\w+)*|[^\w\s]")
_DETERMINERS = frozenset("the a an his her its their our my your this that these those".split())
_QUESTION_WORDS = frozenset(
    """who whom whose what which when where why how is are was were did does do has have had will
    would can could should may might must""".split()
)
# Words that begin the rest of the question, so they end a lower-case excluded phrase.
_BOUNDARY = _QUESTION_WORDS | frozenset(
    """be been in at on to for with by during since after before from into about over under of
    that who's""".split()
)
_JOINERS = frozenset({"and", "or", "&"})
# A question may also open with its exclusion: "Besides GPT-4, which models ...".
_QUESTION_START = _QUESTION_WORDS | frozenset("besides apart aside excluding except other".split())
_MAX_LOWER_WORDS = 4


def _phrase_end(text: str, start: int) -> int:
    """Where the noun phrase that starts at ``start`` ends, or ``start`` if none does."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text, start)]
    end, i = start, 0
    while i < len(tokens) and tokens[i][0].casefold() in _DETERMINERS:
        i += 1
    if i < len(tokens) and _is_name(tokens[i][0]):
        while i < len(tokens):
            word = tokens[i][0]
            if _is_name(word):
                end, i = tokens[i][2], i + 1
            elif word.casefold() in _JOINERS and i + 1 < len(tokens) and _is_name(tokens[i + 1][0]):
                i += 1
            else:
                break
        return end
    # Lower-case words: only a short phrase that closes the clause, as in "besides the CEO?";
    # in "Who besides researchers left the company?" there is no telling where it stops.
    taken = 0
    while i < len(tokens) and taken < _MAX_LOWER_WORDS:
        word = tokens[i][0]
        if not word[0].isalnum() or word.casefold() in _BOUNDARY:
            break
        if _is_name(word):
            return start
        end, i, taken = tokens[i][2], i + 1, taken + 1
    closes = i == len(tokens) or not tokens[i][0][0].isalnum()
    return end if closes else start


def _is_name(word: str) -> bool:
    """A capitalised word or one with a digit or inner capital: "Tworek", "GPT-4", "o1", "iOS"."""
    return word[0].isalnum() and (
        word[0].isupper() or any(c.isdigit() for c in word) or any(c.isupper() for c in word[1:])
    )


def _is_question(text: str) -> bool:
    """Ends with "?", or starts with a question word, an auxiliary or an exclusion marker."""
    first = _TOKEN.search(text)
    return text.rstrip().endswith("?") or (
        first is not None and first.group().casefold() in _QUESTION_START
    )


def drop_exclusions(question: str) -> str:
    """``question`` without its exclusion clauses, or unchanged when it has none."""
    if not _is_question(question):
        return question
    out, at = [], 0
    for marker in _MARKER.finditer(question):
        if marker.start() < at:
            continue
        end = _phrase_end(question, marker.end())
        if end == marker.end():
            continue
        out.append(question[at : marker.start()])
        at = end
    if not out:
        return question
    out.append(question[at:])
    rewritten = re.sub(r"\s+([,?.!;:])", r"\1", " ".join("".join(out).split()))
    rewritten = re.sub(r"[,;:]+([,?.!;:])", r"\1", re.sub(r"^[,;:]\s*", "", rewritten))
    return rewritten if query_terms(rewritten) else question
