"""Read a corpus directory and detect each file's format from its content."""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from indexer.errors import SourceError
from indexer.models import LoadResult, RawDocument, Skipped

MAX_FILE_BYTES = 20 * 1024 * 1024

_HTML_SIGNAL = re.compile(r"<(?:!doctype|html|head|body|article|main|div|p|h[1-6]|span|br)\b", re.I)
_MD_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)
_MD_LINK = re.compile(r"\[[^\]\n]+\]\((?:https?://|/|#)[^)\s]*\)")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)
_DATE_FORMATS = (
    "%B %d, %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%Y/%m/%d",
    "%d/%m/%Y",
)


def iter_source_files(source: Path) -> Iterator[Path]:
    """Yield the files under ``source`` in a stable order, skipping hidden ones."""
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        yield path


def load_corpus(source: Path) -> LoadResult:
    """Read every file under ``source``; unreadable files become ``Skipped`` entries."""
    if not source.exists():
        raise SourceError(f"source directory {source} does not exist; pass --source DIR")
    if not source.is_dir():
        raise SourceError(f"source {source} is not a directory; pass --source DIR")
    files = list(iter_source_files(source))
    if not files:
        raise SourceError(f"source directory {source} has no files to index")
    result = LoadResult()
    seen: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(source).as_posix()
        try:
            docs = load_file(path, doc_id=rel.rsplit(".", 1)[0] if "." in path.name else rel)
        except ValueError as e:
            result.skipped.append(Skipped(rel, str(e)))
            continue
        for doc in docs:
            if isinstance(doc, Skipped):
                result.skipped.append(doc)
            elif doc.doc_id in seen:
                result.skipped.append(
                    Skipped(
                        rel,
                        f"doc_id {doc.doc_id!r} already taken by {seen[doc.doc_id]}",
                    )
                )
            else:
                seen[doc.doc_id] = rel
                result.documents.append(doc)
    return result


def load_file(path: Path, doc_id: str) -> list[RawDocument | Skipped]:
    """Parse one file into documents (JSONL files hold several). Raises ValueError if unusable."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
    text = decode(path.read_bytes())
    stripped = text.lstrip()
    name = path.name
    if stripped[:1] in "{[":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            records = _try_jsonl(text)
            if records is None:
                raise ValueError(f"looks like JSON but does not parse: {e}") from e
            return _from_jsonl(records, name)
        return _from_json(data, doc_id, name)
    if _looks_like_html(stripped):
        return [_from_html(text, doc_id, name)]
    if _looks_like_markdown(text):
        return [_from_markdown(text, doc_id, name)]
    return [RawDocument(doc_id=doc_id, path=name, format="text", text=text)]


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


def _looks_like_html(text: str) -> bool:
    head = text[:4000]
    return (head.startswith("<") and bool(_HTML_SIGNAL.search(head))) or len(
        _HTML_SIGNAL.findall(head)
    ) >= 3


def _looks_like_markdown(text: str) -> bool:
    return bool(_FRONT_MATTER.match(text) or _MD_HEADING.search(text) or _MD_LINK.search(text))


def _try_jsonl(text: str) -> list[tuple[int, Any]] | None:
    records: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError:
            if not records:
                return None
            records.append((lineno, None))
    return records if len(records) >= 1 else None


def _from_jsonl(records: list[tuple[int, Any]], name: str) -> list[RawDocument | Skipped]:
    out: list[RawDocument | Skipped] = []
    for lineno, rec in records:
        where = f"{name} line {lineno}"
        if not isinstance(rec, dict):
            out.append(Skipped(where, "not a JSON object"))
            continue
        rec_id, text, title = rec.get("id", rec.get("_id")), rec.get("text"), _str(rec.get("title"))
        if rec_id is None or str(rec_id).strip() == "":
            out.append(Skipped(where, "record has no 'id'"))
            continue
        if not isinstance(text, str) or not text.strip():
            if title is None:
                out.append(Skipped(where, "record has no 'text'"))
                continue
            text, title = title, None  # a title alone is the text (BEIR's SciDocs, TREC-COVID)
        out.append(
            RawDocument(
                doc_id=str(rec_id).strip(),
                path=name,
                format="jsonl",
                text=text,
                title=title,
                url=_str(rec.get("url")),
                site_name=_str(rec.get("site_name")),
                author=_str(rec.get("author")),
                published=parse_date(rec.get("published") or rec.get("date")),
            )
        )
    return out


def _from_json(data: Any, doc_id: str, name: str) -> list[RawDocument | Skipped]:
    posts = data if isinstance(data, list) else [data]
    if not posts or not all(isinstance(p, dict) and _is_wordpress(p) for p in posts):
        raise ValueError("JSON is not a WordPress REST post (no title.rendered/content.rendered)")
    if len(posts) == 1:
        return [_from_wordpress(posts[0], doc_id, name)]
    return [_from_wordpress(p, f"{doc_id}-{p.get('id', i)}", name) for i, p in enumerate(posts)]


def _is_wordpress(post: dict[str, Any]) -> bool:
    content = post.get("content")
    return isinstance(content, dict) and isinstance(content.get("rendered"), str)


def _from_wordpress(post: dict[str, Any], doc_id: str, name: str) -> RawDocument:
    head = post.get("yoast_head_json")
    yoast: dict[str, Any] = head if isinstance(head, dict) else {}
    title = post.get("title")
    title_html = title.get("rendered") if isinstance(title, dict) else title
    return RawDocument(
        doc_id=doc_id,
        path=name,
        format="wordpress",
        html=post["content"]["rendered"],
        title=html_to_plain(title_html) if isinstance(title_html, str) else None,
        url=_str(post.get("link")) or _str(yoast.get("canonical")) or _str(yoast.get("og_url")),
        site_name=_str(yoast.get("og_site_name")),
        author=_str(yoast.get("author")),
        published=parse_date(
            post.get("date") or yoast.get("article_published_time") or post.get("date_gmt")
        ),
    )


def _from_html(text: str, doc_id: str, name: str) -> RawDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")

    def meta(*keys: str) -> str | None:
        for key in keys:
            tag = soup.find("meta", attrs={"property": key}) or soup.find(
                "meta", attrs={"name": key}
            )
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return None

    canonical = soup.find("link", rel="canonical")
    time_tag = soup.find("time", datetime=True)
    h1 = soup.find("h1")
    title = (
        meta("og:title", "twitter:title")
        or (h1.get_text(" ", strip=True) if h1 else None)
        or (soup.title.get_text(" ", strip=True) if soup.title else None)
    )
    return RawDocument(
        doc_id=doc_id,
        path=name,
        format="html",
        html=text,
        title=title,
        url=meta("og:url")
        or (str(canonical["href"]) if canonical and canonical.get("href") else None),
        site_name=meta("og:site_name", "application-name"),
        author=meta("author", "article:author", "parsely-author"),
        published=parse_date(
            meta("article:published_time", "datePublished", "date", "pubdate")
            or (time_tag["datetime"] if time_tag else None)
        ),
    )


def _from_markdown(text: str, doc_id: str, name: str) -> RawDocument:
    from markdown_it import MarkdownIt

    fields: dict[str, str] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip().strip("'\"")
        text = text[m.end() :]
    heading = re.search(r"^#\s+(.+)$", text, re.M)
    return RawDocument(
        doc_id=doc_id,
        path=name,
        format="markdown",
        html=MarkdownIt("commonmark").render(text),
        title=fields.get("title") or (heading.group(1).strip() if heading else None),
        url=fields.get("url") or fields.get("source") or fields.get("link"),
        site_name=fields.get("site") or fields.get("site_name"),
        author=fields.get("author"),
        published=parse_date(fields.get("date") or fields.get("published")),
    )


def html_to_plain(fragment: str) -> str:
    from bs4 import BeautifulSoup

    return " ".join(BeautifulSoup(fragment, "lxml").get_text(" ").split())


def parse_date(value: Any) -> str | None:
    """Normalise a date-like value to an ISO ``YYYY-MM-DD`` string, or None."""
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    text = str(value).strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError):
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
