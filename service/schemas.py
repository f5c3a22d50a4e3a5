"""Request and response models: the HTTP contract, published at /openapi.json."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from indexer.load import is_web_url

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50

Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]


_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*:")
UNSAFE_SOURCE = "(link withheld: not http or https)"


def safe_source(value: str) -> str:
    """A source is an http(s) URL or a file name. Any other link (``javascript:``, ``data:``),
    which an index built before URLs were checked may hold, is never served."""
    return UNSAFE_SOURCE if _SCHEME.match(value) and not is_web_url(value) else value


def safe_url(value: str | None) -> str | None:
    return value if value is None or is_web_url(value) else None


Source = Annotated[str, AfterValidator(safe_source)]
Url = Annotated[str | None, AfterValidator(safe_url)]

DocId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


class Filters(BaseModel):
    """Restrict retrieval; documents without a date never match a date filter."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[DocId] | None = Field(
        None, min_length=1, max_length=1000, description="Only these documents."
    )
    published_after: date | None = Field(None, description="Published on or after this date.")
    published_before: date | None = Field(None, description="Published on or before this date.")
    source_contains: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = Field(None, description="Case-insensitive substring of the source URL or file name.")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        after, before = self.published_after, self.published_before
        if after and before and after > before:
            raise ValueError(
                f"published_after ({self.published_after}) is later than published_before "
                f"({self.published_before})"
            )
        return self


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question = Field(description="Natural-language question, 1-2000 characters.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Number of passages to return.")
    filters: Filters | None = Field(None, description="Optional restrictions on the sources.")


class Span(BaseModel):
    start: int
    end: int


class SourceSpan(BaseModel):
    """A checkable span: ``GET /v1/documents/{doc_id}`` then ``text[start:end]``."""

    doc_id: str
    title: str
    source: Source
    start: int
    end: int


class ShortAnswer(BaseModel):
    """The entity or phrase inside the answer that answers a typed question ("Who", "When",
    "How much", ...): ``GET /v1/documents/{doc_id}`` then ``text[start:end]``."""

    text: str
    doc_id: str
    start: int
    end: int


class AnswerPart(BaseModel):
    question: str = Field(description="This part of a multi-part question, as searched.")
    text: str | None = Field(description="Its answer sentence(s); null when the corpus has none.")
    citations: list[SourceSpan] = Field(default_factory=list)
    short: ShortAnswer | None = None


class Answer(BaseModel):
    text: str = Field(description="The answering sentence(s), verbatim from the corpus.")
    citations: list[SourceSpan] = Field(description="Where each sentence of the answer comes from.")
    also_in: list[SourceSpan] = Field(
        default_factory=list, description="Other documents stating the same (corroboration)."
    )
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="With the reranker: the estimated probability that the corpus answers the "
        "question (no answer is given below the calibrated threshold). Without it: 0.5 at the "
        "abstention threshold.",
    )
    short: ShortAnswer | None = Field(
        None, description="The entity of the asked type inside the answer, for a typed question."
    )
    parts: list[AnswerPart] | None = Field(
        None, description="For a question that asks several things, one answer per part."
    )


class Passage(BaseModel):
    rank: int = Field(description="1-based rank.")
    score: float = Field(
        description="Ranking score, higher is better: the retrieval score scaled to the best "
        "candidate's, plus RAGQA_EVIDENCE_WEIGHT (scaled down for questions over 30 words) times "
        "the score of the passage's best sentence (with the weight 0, the retrieval score itself)."
    )
    text: str = Field(description="Passage text, equal to document.text[start:end].")
    doc_id: str
    chunk_id: str
    title: str
    source: Source = Field(description="Article URL when known, else the source file name.")
    published: str | None = Field(description="Publication date (ISO 8601) or null.")
    start: int = Field(description="Start offset in the document's cleaned text.")
    end: int = Field(description="End offset (exclusive) in the document's cleaned text.")
    highlights: list[Span] = Field(
        default_factory=list,
        description="Document offsets of the passage's most relevant sentences.",
    )
    also_in: list[SourceSpan] = Field(
        default_factory=list,
        description="Other documents saying the same thing (the matching sentence's span).",
    )


class IndexInfo(BaseModel):
    version: str
    built_at: str


class AskResponse(BaseModel):
    question: str
    answer: Answer | None = Field(description="null when the corpus does not contain an answer.")
    passages: list[Passage]
    index: IndexInfo
    took_ms: float


class DocumentResponse(BaseModel):
    doc_id: str
    title: str
    source: Source
    published: str | None
    text: str = Field(description="Cleaned text; passage offsets index into it.")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    index: IndexInfo
    documents: int
    chunks: int
    query_encoder: str | None = Field(
        None, description="How questions are encoded: onnx-int8, onnx, torchscript or torch."
    )


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
