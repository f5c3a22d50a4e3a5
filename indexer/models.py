"""Plain data records passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RawDocument:
    """A document as read from a file, before cleaning.

    Exactly one of ``text`` (plain text) or ``html`` (markup) carries the body.
    """

    doc_id: str
    path: str
    format: str
    text: str | None = None
    html: str | None = None
    title: str | None = None
    url: str | None = None
    site_name: str | None = None
    author: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class Document:
    """A cleaned document: ``text`` is what chunk offsets index into."""

    doc_id: str
    title: str
    text: str
    path: str
    format: str
    url: str | None = None
    site_name: str | None = None
    author: str | None = None
    published: str | None = None

    @property
    def source(self) -> str:
        """What a reader follows to check a citation: the URL, else the file name."""
        return self.url or self.path.rsplit("/", 1)[-1]

    @property
    def content_hash(self) -> str:
        """Changes when anything a reader sees of the document changes."""
        import hashlib

        fields = (self.title, self.text, self.url, self.site_name, self.author, self.published)
        return hashlib.sha256(repr(fields).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; ``document.text[start:end] == text``."""

    doc_id: str
    position: int
    start: int
    end: int
    text: str
    n_tokens: int

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.position}"


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a document's cleaned text, the unit of answers and highlights."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Skipped:
    """A file (or record) that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class LoadResult:
    documents: list[RawDocument] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Documents indexed with something dropped (an unsafe URL), and what.
    warnings: list[Skipped] = field(default_factory=list)
