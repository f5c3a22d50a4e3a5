"""The answer span: the best sentence, and a neighbour when it carries what the question asks.

One sentence is the answer unless the one next to it completes it: a lead-in ending with a colon
and what it introduces; a sentence without the asked-for kind (a date, an amount, a reason) and a
neighbour that has it; an attribution and the quote that follows; a list after its lead-in ("These
included …"); a sentence that opens with a pronoun and the sentence it refers back to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from service.qa.answer_types import Kind, holds

# A sentence continuing the one before: the list it introduced, or the quote of its speaker.
_LIST = re.compile(
    r"^(?:These|They|Those|Others|Among them)\b.{0,40}\b(?:include[sd]?|including)\b"
)
_QUOTE = re.compile(
    r"^[“\"‘]|[”\"’],? (?:she|he|they|[A-Z][\w’'-]+) (?:said|says|told|added|wrote)\b"
)
# A sentence whose subject is the previous sentence's: "She …", "The company …".
_REFERS_BACK = re.compile(
    r"^(?:He|She|It|They|His|Her|Its|Their|This|These|That|Those|The (?:company|firm|group"
    r"|move|decision|startup|researcher|executive))\b"
)


class Sentence(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def is_title(self) -> bool: ...


S = TypeVar("S", bound=Sentence)


def answer_span(
    sentences: Sequence[S], best: int, kind: Kind | None, question: str, max_follow: int = 3
) -> list[S]:
    """Consecutive sentences of one passage around ``sentences[best]``, in document order."""
    sentence = sentences[best]
    after = sentences[best + 1] if best + 1 < len(sentences) else None
    before = sentences[best - 1] if best > 0 and not sentences[best - 1].is_title else None
    if sentence.text.rstrip().endswith(":"):
        return list(sentences[best : best + 1 + max_follow])
    if kind is not None and not holds(sentence.text, kind, question):
        if after is not None and holds(after.text, kind, question):
            return [sentence, after]
        if before is not None and holds(before.text, kind, question):
            return [before, sentence]
    if after is not None and (
        _LIST.search(after.text) or (_QUOTE.search(after.text) and not _QUOTE.search(sentence.text))
    ):
        return [sentence, after]
    if before is not None and _REFERS_BACK.search(sentence.text):
        return [before, sentence]
    return [sentence]
