"""Each corpus format read into raw documents: JSON, JSONL, WordPress, HTML, Markdown."""

from __future__ import annotations

import email.utils
import json
import re
from datetime import date, datetime
from typing import Any

from indexer.models import RawDocument, Skipped

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


def looks_like_html(text: str) -> bool:
    head = text[:4000]
    return (head.startswith("<") and bool(_HTML_SIGNAL.search(head))) or len(
        _HTML_SIGNAL.findall(head)
    ) >= 3


def looks_like_markdown(text: str) -> bool:
    return bool(_FRONT_MATTER.match(text) or _MD_HEADING.search(text) or _MD_LINK.search(text))


def jsonl_records(text: str) -> list[tuple[int, Any]]:
    """(line number, parsed value or None when the line does not parse) for each non-blank line."""
    records: list[tuple[int, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except (json.JSONDecodeError, RecursionError):
            records.append((lineno, None))
    return records


def from_jsonl(
    records: list[tuple[int, Any]], name: str, doc_id: str
) -> list[RawDocument | Skipped]:
    out: list[RawDocument | Skipped] = []
    for lineno, rec in records:
        where = f"{name} line {lineno}"
        if not isinstance(rec, dict):
            reason = "not valid JSON" if rec is None else "not a JSON object"
            out.append(Skipped(where, reason))
            continue
        out.append(_from_record(rec, f"{doc_id}-{lineno}", name, "jsonl", where))
    return out


def _from_record(
    rec: dict[str, Any], default_id: str, name: str, fmt: str, where: str
) -> RawDocument | Skipped:
    """A record with ``text`` (or only a ``title``) and optional metadata fields."""
    rec_id = rec.get("id", rec.get("_id"))
    if rec_id is None or str(rec_id).strip() == "":
        rec_id = default_id
    text, title = rec.get("text"), _str(rec.get("title"))
    if not isinstance(text, str) or not text.strip():
        if title is None:
            return Skipped(where, "record has no 'text'")
        text, title = title, None  # a title alone is the text (BEIR's SciDocs, TREC-COVID)
    return RawDocument(
        doc_id=str(rec_id).strip(),
        path=name,
        format=fmt,
        text=text,
        title=title,
        url=_str(rec.get("url")),
        site_name=_str(rec.get("site_name")),
        author=_str(rec.get("author")),
        published=parse_date(rec.get("published") or rec.get("date")),
    )


def from_json(data: Any, doc_id: str, name: str) -> list[RawDocument | Skipped]:
    """A WordPress REST post, a record with ``text``, or an array of either."""
    if isinstance(data, dict):
        if _is_wordpress(data):
            return [_from_wordpress(data, doc_id, name)]
        if "text" in data or "title" in data:
            return [_from_record(data, doc_id, name, "json", name)]
        raise ValueError(
            "JSON object is neither a record with 'text' nor a WordPress REST post "
            "(content.rendered)"
        )
    if not isinstance(data, list) or not data:
        raise ValueError("JSON holds no records (expected an object or an array of objects)")
    out: list[RawDocument | Skipped] = []
    for i, item in enumerate(data):
        where = f"{name} item {i}"
        if not isinstance(item, dict):
            out.append(Skipped(where, "not a JSON object"))
        elif _is_wordpress(item):
            out.append(_from_wordpress(item, f"{doc_id}-{item.get('id', i)}", name))
        else:
            out.append(_from_record(item, f"{doc_id}-{i}", name, "json", where))
    return out


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


def from_html(text: str, doc_id: str, name: str) -> RawDocument:
    """An HTML page: its article and metadata as trafilatura extracts them, for precision.

    When the extractor finds no article (a page that is all links, a fragment), the whole page is
    kept as markup and cleaned by the page-dump rules instead, so that no page is lost.
    """
    import trafilatura

    found: dict[str, Any] = {}
    for precise in (True, False):
        extracted = trafilatura.bare_extraction(
            text,
            favor_precision=precise,
            favor_recall=not precise,
            include_comments=False,
            with_metadata=True,
            deduplicate=False,
        )
        if extracted is not None and not isinstance(extracted, dict):
            extracted = extracted.as_dict()
        found = extracted or {}
        if _str(found.get("text")):
            break
    body = _str(found.get("text"))
    fields = {
        "title": _str(found.get("title")),
        "url": _str(found.get("url")),
        "site_name": _str(found.get("sitename")),
        "author": _str(found.get("author")),
        "published": parse_date(found.get("date")),
    }
    if not all(fields.values()):  # the page's head again, only for what the extractor lacked
        head = _html_metadata(text)
        fields = {k: v or head[k] for k, v in fields.items()}
    return RawDocument(
        doc_id=doc_id,
        path=name,
        format="html",
        # One paragraph per line from the extractor; a blank line between them for the chunker.
        text="\n\n".join(line for line in body.splitlines() if line.strip()) if body else None,
        html=None if body else text,
        **fields,
    )


def _html_metadata(text: str) -> dict[str, str | None]:
    """Title, URL, site, author and date from a page's head (meta tags, canonical link, h1)."""
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
    return {
        "title": meta("og:title", "twitter:title")
        or (h1.get_text(" ", strip=True) if h1 else None)
        or (soup.title.get_text(" ", strip=True) if soup.title else None),
        "url": meta("og:url")
        or (str(canonical["href"]) if canonical and canonical.get("href") else None),
        "site_name": meta("og:site_name", "application-name"),
        "author": meta("author", "article:author", "parsely-author"),
        "published": parse_date(
            meta("article:published_time", "datePublished", "date", "pubdate")
            or (time_tag["datetime"] if time_tag else None)
        ),
    }


def from_markdown(text: str, doc_id: str, name: str) -> RawDocument:
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
