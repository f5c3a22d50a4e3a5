"""The one text rendering of an answer with its numbered sources: `ragqa ask`, chat and MCP.

An answer reads as its sentence(s) with inline markers ``[1]``, ``[2]``, then a numbered source list
(title, site, URL or file, date); every marker is one entry of ``citations``, a span of a document's
cleaned text. ``detail=True`` (the CLI and MCP, whose readers check citations) adds each source's
``doc_id [start:end]``, the short answer, and the ranked passages.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.chat.schemas import ChatCitation
from service.schemas import AskResponse, Passage, SourceSpan

NOT_FOUND = "I could not find an answer to that in the corpus."
PART_NOT_FOUND = "I could not find that in the corpus."

# doc_id -> the document's row (a mapping with text, url, site_name, published), or None.
DocumentLookup = Callable[[str], Any]


@dataclass(frozen=True)
class Rendered:
    text: str
    citations: list[ChatCitation]
    found: bool


def citation(index: int, span: SourceSpan, document: DocumentLookup) -> ChatCitation:
    """Source ``index``: the span with its document's metadata and the text it covers."""
    row = document(span.doc_id)
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
        text=row["text"][span.start : span.end] if row else "",
    )


def passage_span(passage: Passage) -> SourceSpan:
    """The whole passage as a citation."""
    return SourceSpan.model_validate(passage.model_dump(include=set(SourceSpan.model_fields)))


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


def sources_list(citations: list[ChatCitation], detail: bool = False) -> str:
    """The numbered source list that follows an answer: title, site, URL or file, date."""
    lines = ["Sources:"]
    for c in citations:
        details = [d for d in (c.site_name, c.url or c.source, c.published) if d]
        where = f" · {c.doc_id} [{c.start}:{c.end}]" if detail else ""
        lines.append(f"[{c.index}] {c.title} — {', '.join(details)}{where}")
    return "\n".join(lines)


def render_answer(
    response: AskResponse, document: DocumentLookup, *, detail: bool = False, first: int = 1
) -> Rendered:
    """The answer sentence(s) with markers and sources numbered from ``first``; for a question of
    several parts, one paragraph per part (or that the corpus has none)."""
    answer = response.answer
    if answer is None:
        text = NOT_FOUND
        if detail:
            text += "\n\nThe closest passages:\n\n" + _passages(response.passages)
        return Rendered(text, [], False)
    citations: list[ChatCitation] = []

    def cite(spans: list[SourceSpan]) -> str:
        start = first + len(citations)
        citations.extend(citation(i, s, document) for i, s in enumerate(spans, start))
        return "".join(f"[{i}]" for i in range(start, first + len(citations)))

    paragraphs = []
    if not answer.parts:
        spans = merge_spans(answer.citations)
        cited = {s.doc_id for s in spans}
        paragraphs.append(
            f"{answer.text} {cite(spans + [s for s in answer.also_in if s.doc_id not in cited])}"
        )
        if detail and answer.short is not None:
            paragraphs[-1] += f"\nIn short: {answer.short.text}"
    else:
        for part in answer.parts:
            if part.text is None:
                paragraphs.append(f"{part.question} {PART_NOT_FOUND}")
            else:
                paragraphs.append(f"{part.text} {cite(merge_spans(part.citations))}")
    paragraphs.append(sources_list(citations, detail))
    if detail:
        paragraphs.append("Passages:\n\n" + _passages(response.passages))
    return Rendered("\n\n".join(paragraphs), citations, True)


def _passages(passages: list[Passage]) -> str:
    """The ranked passages, each with where it is and its text."""
    blocks = []
    for p in passages:
        date = f", {p.published}" if p.published else ""
        lines = [
            f"{p.rank}. {p.title} ({p.source}{date}) score {p.score:.3f} · "
            f"{p.doc_id} [{p.start}:{p.end}]"
        ]
        lines += [f"   also in {a.doc_id} [{a.start}:{a.end}] ({a.source})" for a in p.also_in]
        lines.append(textwrap.indent(p.text, "   "))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
