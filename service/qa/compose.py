"""The answer of the reranking path: the best sentence, the neighbours that complete it, the short
answer inside it, and one answer per part of a multi-part question.

A neighbour joins the answer sentence when the span rules say so (``spans.answer_span``: a lead-in
and its list, a missing answer type, a quote's speaker, a pronoun), when a quote opened in the
answer closes in a following sentence, or when the cross-encoder scores the sentence read with its
closer neighbour higher than the sentence alone by the fitted margin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.qa.answer_types import expected_kind
from service.qa.entity_types import answer_type, asked_currency, in_currency, matches
from service.qa.extract import ScoredSentence
from service.qa.rerank import Candidate, Reranker, is_heading
from service.qa.spans import answer_span

# A quote opened in the answer may run over at most this many more sentences.
MAX_QUOTE_SENTENCES = 3
_SAID = re.compile(r"\b(?:said|says|told|added|wrote|warned|explained|noted)\b")
_QUOTE_MARK = re.compile(r"[“”\"]")
_OPENS_QUOTE = re.compile(r"^\s*[“\"]")
# A question about what someone said: the whole quote answers it.
_ASKS_WORDS = re.compile(
    r"\b(?:say|said|says|tell|told|warn|warned|describe|described|call|called|argue|argued"
    r"|explain|explained)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Short:
    """The entity of the asked type inside the answer, with its document offsets."""

    text: str
    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Composed:
    sentences: list[ScoredSentence]
    short: Short | None
    confidence: float


def _open_quotes(text: str) -> int:
    return text.count("“") - text.count("”") + (text.count('"') % 2)


def extend_quote(
    sentences: list[ScoredSentence], span: list[ScoredSentence], asks_words: bool = False
) -> list[ScoredSentence]:
    """The span, followed by the sentences that finish a quotation it opens; for a question
    about what someone said (``asks_words``), also the quote that its speaker goes on with
    ("“…,” she said. “That’s the wrong question. …”")."""
    last = sentences.index(span[-1])
    following = sentences[last + 1 : last + 1 + MAX_QUOTE_SENTENCES]
    out = list(span)
    if _open_quotes(" ".join(s.text for s in out)) <= 0:
        said = _SAID.search(out[-1].text) and _QUOTE_MARK.search(out[-1].text)
        if not (asks_words and said and following and _OPENS_QUOTE.match(following[0].text)):
            return span
        if _SAID.search(following[0].text):  # another attribution: someone else speaks
            return span
    for s in following:
        out.append(s)
        if _open_quotes(" ".join(x.text for x in out)) <= 0:
            break
    return out


def compose(
    reranker: Reranker,
    question: str,
    best: Candidate,
    sentences: list[ScoredSentence],
    confidence: float,
    asked: str | None = None,
) -> Composed:
    """The answer span around ``best`` (a sentence of ``sentences``, its passage's sentences)."""
    j = best.position
    span = rule_span(question, sentences, j)
    check = reranker.model.pair
    if len(span) == 1 and best.cross is not None and check.reads(best.cross):
        k = partner(sentences, j)
        if k is not None:
            texts = [sentences[i].text for i in sorted([j, k])]
            if check.joins(best.cross, reranker.logits(question, [(best.hit, texts)])[0]):
                span = pair_span(question, sentences, j, k)
    return Composed(span, short_answer(question, best, span, reranker, asked), confidence)


def partner(sentences: list[ScoredSentence], j: int) -> int | None:
    """The neighbour of sentence ``j`` that may join it: the closer one to the question (by
    sentence score), never a headline."""
    neighbours = [
        k
        for k in (j - 1, j + 1)
        if 0 <= k < len(sentences)
        and not sentences[k].is_title
        and not is_heading(sentences[k].text)
    ]
    return max(neighbours, key=lambda k: sentences[k].score) if neighbours else None


def pair_span(
    question: str, sentences: list[ScoredSentence], j: int, k: int
) -> list[ScoredSentence]:
    """Sentence ``j`` with its neighbour ``k`` (what the cross-encoder read together), and the
    rest of a quotation they open: the answer when the pair wins."""
    pair = [sentences[i] for i in sorted([j, k])]
    return extend_quote(sentences, pair, bool(_ASKS_WORDS.search(question)))


def rule_span(question: str, sentences: list[ScoredSentence], j: int) -> list[ScoredSentence]:
    """The span the rules give around sentence ``j``, before the cross-encoder's pair check."""
    span = answer_span(sentences, j, expected_kind(question), question)
    return extend_quote(sentences, span, bool(_ASKS_WORDS.search(question)))


def short_answer(
    question: str,
    best: Candidate,
    span: list[ScoredSentence],
    reranker: Reranker,
    asked: str | None = None,
) -> Short | None:
    """The first entity of the asked type in the best sentence (else in the rest of the span)
    that the question does not already name; for an amount asked in a currency ("… in euros?"),
    the first in that currency when there is one."""
    atype = answer_type(question)
    if atype is None or not reranker.reader.has_entities:
        return None
    found = reranker.reader.entities(s.sentence_id for s in span)
    ordered = [best.sentence] + [s for s in span if s.sentence_id != best.sentence.sentence_id]
    shorts = [
        Short(text, s.doc_id, start, end)
        for s in ordered
        for label, start, end in found.get(s.sentence_id, [])
        if matches(atype, label, text := s.text[start - s.start : end - s.start], asked or question)
    ]
    marks = asked_currency(question) if atype.name == "money" else None
    if marks is not None:
        return next(
            (x for x in shorts if in_currency(x.text, marks)), shorts[0] if shorts else None
        )
    return shorts[0] if shorts else None
