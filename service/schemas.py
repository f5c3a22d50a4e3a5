"""Request and response models: the HTTP contract, published at /openapi.json."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50

Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question = Field(description="Natural-language question, 1-2000 characters.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Number of passages to return.")


class Passage(BaseModel):
    rank: int = Field(description="1-based rank.")
    score: float = Field(description="Relevance score; higher is better.")
    text: str = Field(description="Passage text, equal to document.text[start:end].")
    doc_id: str
    chunk_id: str
    title: str
    source: str = Field(description="Article URL when known, else the source file name.")
    published: str | None = Field(description="Publication date (ISO 8601) or null.")
    start: int = Field(description="Start offset in the document's cleaned text.")
    end: int = Field(description="End offset (exclusive) in the document's cleaned text.")


class IndexInfo(BaseModel):
    version: str
    built_at: str


class AskResponse(BaseModel):
    question: str
    passages: list[Passage]
    index: IndexInfo
    took_ms: float


class DocumentResponse(BaseModel):
    doc_id: str
    title: str
    source: str
    published: str | None
    text: str = Field(description="Cleaned text; passage offsets index into it.")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    index: IndexInfo
    documents: int
    chunks: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
