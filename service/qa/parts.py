"""Multi-part questions: "How much did X pay, and what did he do with the money?" asks two things.

A question is split where ", and" or "and" is followed by a new question ("and when …", "and at
what level …", "and did …"). Each later part usually refers back ("he", "the money"), so it is
searched with the names of the first part that it does not repeat. One question is one part.
"""

from __future__ import annotations

import re

_SPLIT = re.compile(
    r",?\s+(?:and|but)\s+(?=(?:(?:at|by|in|on|for|from|to|with|since|until)\s+)?"
    r"(?:what|when|where|who|whom|whose|which|why|how|did|does|do|is|was|were|are|has|had"
    r"|will|would|can|could)\b)",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][\w.&'’-]*(?:\s+[A-Z][\w.&'’-]*)*")
_WORD = re.compile(r"\w+")
# A part shorter than this many words is not a question of its own ("and who?").
MIN_PART_WORDS = 3
# A first part this short, opening like the last one, shares its predicate.
SHORT_PART_WORDS = 4


def split_parts(question: str) -> list[str]:
    """The question's parts, each a question of its own, in the order asked."""
    pieces = [p.strip(" ,") for p in _SPLIT.split(question.strip())]
    pieces = [p for p in pieces if p]
    if len(pieces) < 2 or any(len(_WORD.findall(p)) < MIN_PART_WORDS for p in pieces):
        return [question]
    first = pieces[0]
    last = pieces[-1].split()
    if len(_WORD.findall(first)) <= SHORT_PART_WORDS and [w.casefold() for w in last[:2]] == [
        w.casefold() for w in first.split()[:2]
    ]:
        # "How many people and how many counties were affected …": the predicate comes after
        # the last part's own wh-phrase (its first three words).
        first = f"{first} {' '.join(pieces[-1].split()[3:])}".strip()
    parts = [first if first.endswith("?") else f"{first}?"]
    for piece in pieces[1:]:
        text = piece[0].upper() + piece[1:]
        parts.append(text if text.endswith("?") else f"{text}?")
    return parts


def with_context(part: str, first: str) -> str:
    """A later part, followed by the names of the first part that it does not mention."""
    present = {w.casefold() for w in _WORD.findall(part)}
    names = [
        m.group()
        for m in _NAME.finditer(first)
        if m.start() > 0 and not {w.casefold() for w in _WORD.findall(m.group())} <= present
    ]
    return f"{part} ({', '.join(names)})" if names else part
