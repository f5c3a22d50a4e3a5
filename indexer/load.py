"""Read a corpus directory and detect each file's format from its content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from indexer.errors import SourceError
from indexer.formats import (
    from_html,
    from_json,
    from_jsonl,
    from_markdown,
    jsonl_records,
    looks_like_html,
    looks_like_markdown,
)
from indexer.models import LoadResult, RawDocument, Skipped

MAX_FILE_BYTES = 20 * 1024 * 1024


def iter_source_files(source: Path) -> Iterator[Path]:
    """Yield the files under ``source`` in a stable order, skipping hidden ones.

    Symbolic links that lead nowhere (dangling or looping) are yielded too, so that they are
    reported as skipped rather than silently ignored.
    """
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() or (path.is_symlink() and not path.exists()):
            yield path


def source_files(source: Path) -> list[Path]:
    """The files a build of ``source`` reads, in order; raises SourceError when there are none."""
    if not source.exists():
        raise SourceError(f"source directory {source} does not exist; pass --source DIR")
    if not source.is_dir():
        raise SourceError(f"source {source} is not a directory; pass --source DIR")
    files = list(iter_source_files(source))
    if not files:
        raise SourceError(f"source directory {source} has no files to index")
    return files


def load_corpus(source: Path) -> LoadResult:
    """Read every file under ``source``; unreadable files become ``Skipped`` entries."""
    return merge_files([read_file(source, path) for path in source_files(source)])


@dataclass
class FileRead:
    """One file's documents and the records skipped, in the file's order, and its warnings."""

    rel: str
    items: list[RawDocument | Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)


def read_file(source: Path, path: Path) -> FileRead:
    """One file of ``source``, read; never raises for the file's content. (A build reads files
    independently, on one machine or as cluster tasks, then merges them with merge_files.)"""
    rel = path.relative_to(source).as_posix()
    read = FileRead(rel)
    try:
        docs = load_file(path, doc_id=rel.rsplit(".", 1)[0] if "." in path.name else rel)
    except Exception as e:  # one unreadable file never stops a build: it is skipped
        read.items.append(Skipped(rel, failure_reason(e)))
        return read
    for doc in docs:
        if not isinstance(doc, Skipped):
            doc, dropped = with_safe_url(doc)
            if dropped:
                where = rel if len(docs) == 1 else f"{rel} record {doc.doc_id!r}"
                read.warnings.append(Skipped(where, dropped))
        read.items.append(doc)
    return read


def merge_files(files: list[FileRead]) -> LoadResult:
    """The corpus from its files, in order: a document whose doc_id an earlier one took is
    skipped."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for read in files:
        result.warnings.extend(read.warnings)
        for item in read.items:
            if isinstance(item, Skipped):
                result.skipped.append(item)
            elif item.doc_id in seen:
                reason = f"doc_id {item.doc_id!r} already taken by {seen[item.doc_id]}"
                result.skipped.append(Skipped(read.rel, reason))
            else:
                seen[item.doc_id] = read.rel
                result.documents.append(item)
    return result


def load_file(path: Path, doc_id: str) -> list[RawDocument | Skipped]:
    """Parse one file into documents (JSON and JSONL files may hold several).

    The format is read from the content; the extension only breaks a tie (a ``.jsonl`` file
    holding one record is JSONL, not a JSON object). Raises ValueError if the file is unusable.
    """
    if path.is_symlink() and not path.exists():
        raise ValueError("symbolic link to nothing (dangling or looping)")
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
    text = decode(path.read_bytes())
    stripped = text.strip()
    name = path.name
    if not stripped:
        raise ValueError("empty file (whitespace only)")
    if stripped[0] in "{[":
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return from_jsonl(jsonl_records(text), name, doc_id)
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None
        except json.JSONDecodeError as e:
            records = jsonl_records(text)
            if records[0][1] is None:  # not even the first line parses: not JSONL either
                raise ValueError(f"looks like JSON but does not parse: {e}") from e
            return from_jsonl(records, name, doc_id)
        return from_json(data, doc_id, name)
    if looks_like_html(stripped):
        return [from_html(text, doc_id, name)]
    if looks_like_markdown(text):
        return [from_markdown(text, doc_id, name)]
    return [RawDocument(doc_id=doc_id, path=name, format="text", text=text)]


def failure_reason(error: BaseException, limit: int = 200) -> str:
    """One line saying why a file could not be read: the message of an expected refusal, the
    exception's type and message for anything else."""
    text = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
    if isinstance(error, OSError) and error.strerror:
        text = f"cannot read: {error.strerror}"
    line = " ".join(text.split()) or type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def with_safe_url(doc: RawDocument) -> tuple[RawDocument, str | None]:
    """``doc`` with its URL kept only when it is an http(s) link, and why it was dropped."""
    if doc.url is None or is_web_url(doc.url):
        return doc, None
    shown = doc.url if len(doc.url) <= 60 else doc.url[:59] + "…"
    reason = f"url {shown!r} dropped: only http and https links are kept"
    return replace(doc, url=None), reason


def is_web_url(url: str) -> bool:
    """An absolute http or https URL with a host: the only links a reader is shown."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def decode(data: bytes) -> str:
    """Decode file bytes as UTF-8 (with or without BOM), falling back to Windows-1252."""
    if b"\x00" in data[:8192]:
        raise ValueError("binary content, not a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as e:
        raise ValueError("not valid UTF-8 or Windows-1252 text") from e
