"""Grounded chat answers: retrieve for the conversation, then answer extractively or generate."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from service.chat.conversation import latest_question, retrieval_query
from service.chat.schemas import ChatCitation, ChatRequest
from service.qa.answer import Answerer
from service.schemas import AskRequest, AskResponse, SourceSpan

NOT_FOUND = "I could not find an answer to that in the corpus."
PART_NOT_FOUND = "I could not find that in the corpus."
CONTEXT_PASSAGES = 5


@dataclass
class Grounding:
    """What one chat turn is answered from."""

    question: str
    query: str
    response: AskResponse
    completion_id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass(frozen=True)
class Reply:
    content: str
    citations: list[ChatCitation]
    found: bool


class ChatEngine:
    def __init__(self, answerer: Answerer, model_id: str) -> None:
        self.answerer = answerer
        self.model_id = model_id

    def ground(self, request: ChatRequest) -> Grounding:
        question, earlier = latest_question(request.messages)
        query = retrieval_query(question, earlier)
        response = self.answerer.ask(AskRequest(question=query, top_k=CONTEXT_PASSAGES))
        return Grounding(question, query, response)

    def citation(
        self, index: int, span: SourceSpan | None = None, **fields: object
    ) -> ChatCitation:
        """A citation with the document's metadata, for a span of its cleaned text."""
        assert span is not None
        row = self.answerer.retriever.reader.document(span.doc_id)
        text = row["text"][span.start : span.end] if row else ""
        return ChatCitation(
            index=index,
            doc_id=span.doc_id,
            title=span.title,
            source=span.source,
            url=row["url"] if row else None,
            site_name=row["site_name"] if row else None,
            published=row["published"] if row else None,
            start=span.start,
            end=span.end,
            text=text,
        )

    def extractive(self, grounding: Grounding) -> Reply:
        """The answer sentence(s), marked with their source and any corroborating outlets; for
        a question of several parts, one answer per part (or that the corpus has none)."""
        answer = grounding.response.answer
        if answer is None:
            return Reply(NOT_FOUND, [], False)
        if not answer.parts:
            spans = merge_spans(answer.citations)
            spans += [s for s in answer.also_in if s.doc_id not in {x.doc_id for x in spans}]
            citations = [self.citation(i, s) for i, s in enumerate(spans, 1)]
            markers = "".join(f"[{c.index}]" for c in citations)
            content = f"{answer.text} {markers}\n\n{sources_list(citations)}"
            return Reply(content, citations, True)
        citations, lines = [], []
        for part in answer.parts:
            if part.text is None:
                lines.append(f"{part.question} {PART_NOT_FOUND}")
                continue
            start = len(citations) + 1
            citations += [
                self.citation(i, s) for i, s in enumerate(merge_spans(part.citations), start)
            ]
            lines.append(
                part.text + " " + "".join(f"[{i}]" for i in range(start, len(citations) + 1))
            )
        content = "\n\n".join(lines) + f"\n\n{sources_list(citations)}"
        return Reply(content, citations, True)


def merge_spans(spans: list[SourceSpan]) -> list[SourceSpan]:
    """Consecutive sentences of one document cited as one span."""
    merged: list[SourceSpan] = []
    for span in spans:
        last = merged[-1] if merged else None
        if last is not None and last.doc_id == span.doc_id and 0 <= span.start - last.end <= 2:
            merged[-1] = last.model_copy(update={"end": span.end})
        else:
            merged.append(span)
    return merged


def sources_list(citations: list[ChatCitation]) -> str:
    """The numbered source list appended to an answer: title, site, URL or file, date."""
    lines = ["Sources:"]
    for c in citations:
        details = [d for d in (c.site_name, c.url or c.source, c.published) if d]
        lines.append(f"[{c.index}] {c.title} — {', '.join(details)}")
    return "\n".join(lines)
