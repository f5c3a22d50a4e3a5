"""Format detection and metadata extraction, from content rather than extension."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.clean import clean_document
from indexer.errors import SourceError
from indexer.formats import parse_date
from indexer.load import load_corpus, load_file
from indexer.models import RawDocument, Skipped
from tests.conftest import SEEDS

WP = SEEDS / "001_431aca0937e33b64.txt"
TEXT = SEEDS / "000_86f8993b5b014a66.txt"


def _one(path: Path) -> RawDocument:
    (doc,) = load_file(path, doc_id=path.stem)
    assert isinstance(doc, RawDocument)
    return doc


def test_wordpress_seed_metadata() -> None:
    raw = _one(WP)
    assert raw.format == "wordpress"
    assert raw.title == "OpenAI’s ChatGPT push triggers senior staff exits"
    assert raw.url == (
        "https://themena.com/index.php/2026/02/03/openais-chatgpt-push-triggers-senior-staff-exits/"
    )
    assert raw.published == "2026-02-03"
    assert raw.site_name == "The MENA News"
    assert raw.author == "A S"
    doc = clean_document(raw)
    assert doc is not None
    assert doc.source == raw.url
    assert "<p>" not in doc.text and "&hellip;" not in doc.text and "\u00a0" not in doc.text
    assert "$500 billion (€424 billion)" in doc.text


def test_plain_text_seed_title_and_source() -> None:
    raw = _one(TEXT)
    assert raw.format == "text"
    doc = clean_document(raw)
    assert doc is not None
    assert doc.title == "OpenAI Faces Senior Talent Exodus as Focus Shifts Sharply Toward ChatGPT"
    assert doc.source == "000_86f8993b5b014a66.txt"
    assert doc.published is None
    assert doc.text.count(doc.title) == 1  # the duplicated headline line is gone


def test_format_is_detected_from_content_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text(WP.read_text("utf-8"), "utf-8")
    assert _one(path).format == "wordpress"
    html = tmp_path / "page.json"
    html.write_text("<html><body><article><p>Hello there, reader.</p></article></body></html>")
    assert _one(html).format == "html"


def test_html_page_metadata_and_chrome(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        """<!doctype html><html><head><title>Site | Big News</title>
        <meta property="og:title" content="Big News Today">
        <meta property="og:url" content="https://news.example/big">
        <meta property="og:site_name" content="Example News">
        <meta name="author" content="Ann Writer">
        <meta property="article:published_time" content="2026-01-05T08:00:00Z">
        </head><body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
        <article><h1>Big News Today</h1><p>The council voted&nbsp;7&ndash;2 on Monday.</p>
        <figure><img src="x.jpg"><figcaption>Photo: Getty</figcaption></figure>
        <p>It takes effect &amp; applies in <b>March</b>.</p><p>Share it</p></article>
        <footer>By accessing this page, you agree to the Terms.</footer></body></html>""",
        "utf-8",
    )
    raw = _one(path)
    assert (raw.format, raw.title, raw.url) == (
        "html",
        "Big News Today",
        "https://news.example/big",
    )
    assert (raw.site_name, raw.author, raw.published) == (
        "Example News",
        "Ann Writer",
        "2026-01-05",
    )
    doc = clean_document(raw)
    assert doc is not None
    assert doc.text == (
        "Big News Today\n\nThe council voted 7–2 on Monday.\n\nIt takes effect & applies in March."
    )


def test_markdown_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\ntitle: Rates Held\ndate: 2026-03-01\nurl: https://example.org/rates\n"
        "author: B. Banker\n---\n# Rates Held\n\nThe bank **held** rates at 4%.\n\n"
        "See [the statement](https://example.org/s).\n",
        "utf-8",
    )
    raw = _one(path)
    assert raw.format == "markdown"
    assert (raw.title, raw.published, raw.url) == (
        "Rates Held",
        "2026-03-01",
        "https://example.org/rates",
    )
    doc = clean_document(raw)
    assert doc is not None
    assert doc.text == "Rates Held\n\nThe bank held rates at 4%.\n\nSee the statement."


def test_jsonl_records_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [
        {
            "id": "a1",
            "title": "First",
            "text": "One fact here.",
            "url": "https://x.test/1",
            "published": "2026-02-01",
        },
        {"id": "a2", "title": "Second", "text": "Another fact."},
        {"title": "no id", "text": "orphan"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", "utf-8")
    docs = load_file(path, doc_id="feed")
    raws = [d for d in docs if isinstance(d, RawDocument)]
    skipped = [d for d in docs if isinstance(d, Skipped)]
    # A record without an id is named by its file and line.
    assert [r.doc_id for r in raws] == ["a1", "a2", "feed-3"]
    assert (raws[0].url, raws[0].published, raws[1].url) == ("https://x.test/1", "2026-02-01", None)
    assert [(s.path, s.reason) for s in skipped] == [("feed.jsonl line 4", "not valid JSON")]


def test_unreadable_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.txt").write_text("A headline\n\nA real sentence about the news.", "utf-8")
    (src / "empty.txt").write_bytes(b"")
    (src / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (src / "broken.json").write_text('{"title": "unterminated', "utf-8")
    (src / "other.json").write_text('{"hello": "world"}', "utf-8")
    (src / "good.md").write_text("# Dup\n\nSame stem as good.txt.", "utf-8")
    (src / ".hidden").write_text("ignored", "utf-8")
    result = load_corpus(src)
    assert [d.doc_id for d in result.documents] == ["good"]
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["image.png"] == "binary content, not a text document"
    assert reasons["broken.json"].startswith("looks like JSON but does not parse")
    assert reasons["other.json"].startswith("JSON object is neither a record with 'text' nor")
    assert reasons["good.txt"] == "doc_id 'good' already taken by good.md"


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source directory .*nope does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"has no files to index"):
        load_corpus(tmp_path / "empty")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-03T13:03:49", "2026-02-03"),
        ("2026-02-03T13:03:49+00:00", "2026-02-03"),
        ("2026-02-03T13:03:49Z", "2026-02-03"),
        ("Tue, 03 Feb 2026 13:03:49 GMT", "2026-02-03"),
        ("February 3, 2026", "2026-02-03"),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_date(value: str, expected: str | None) -> None:
    assert parse_date(value) == expected


def test_beir_records_are_all_indexed(tmp_path: Path) -> None:
    """BEIR corpora have untitled one-line records (Quora, FiQA) and titles without text
    (SciDocs, TREC-COVID); none may be lost."""
    from indexer.clean import clean_document

    records = [
        {"_id": "q1", "title": "", "text": "How do I learn Python quickly"},
        {
            "_id": "q2",
            "title": "",
            "text": "Is this financial advice? This is not financial advice.",
        },
        {"_id": "q3", "title": "Paper", "text": "Click here to see the data. Results held."},
        {"_id": "q4", "title": "A title with no abstract", "text": ""},
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", "utf-8")
    raws = [d for d in load_file(path, doc_id="corpus") if isinstance(d, RawDocument)]
    docs = [clean_document(r) for r in raws]
    assert [d.doc_id for d in docs if d is not None] == ["q1", "q2", "q3", "q4"]
    assert [d.text for d in docs if d is not None] == [
        "How do I learn Python quickly",
        "Is this financial advice? This is not financial advice.",
        "Paper\n\nClick here to see the data. Results held.",
        "A title with no abstract",
    ]


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://news.example/a?b=1", True),
        ("HTTP://news.example", True),
        ("javascript:alert(document.cookie)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("file:///etc/passwd", False),
        ("//news.example/a", False),
        ("/relative/path", False),
        ("https://", False),
        ("http://[::1", False),
    ],
)
def test_only_absolute_http_urls_are_links(url: str, kept: bool) -> None:
    from indexer.load import is_web_url
    from service.schemas import UNSAFE_SOURCE, safe_source, safe_url

    assert is_web_url(url) is kept
    assert (safe_url(url) == url) is kept
    if url.lstrip().split(":", 1)[0].isalpha() and ":" in url:
        assert safe_source(url) == (url if kept else UNSAFE_SOURCE)
    assert safe_source("story.txt") == "story.txt"


def test_json_records_objects_and_arrays(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"title": "T", "text": "Body text.", "author": "A"}), "utf-8")
    (doc,) = load_file(one, doc_id="one")
    assert isinstance(doc, RawDocument)
    assert (doc.doc_id, doc.format, doc.title, doc.author) == ("one", "json", "T", "A")
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"id": "x", "text": "X."}, {"text": "Y."}, 3, {}]), "utf-8")
    docs = load_file(many, doc_id="many")
    assert [d.doc_id for d in docs if isinstance(d, RawDocument)] == ["x", "many-1"]
    assert [(s.path, s.reason) for s in docs if isinstance(s, Skipped)] == [
        ("many.json item 2", "not a JSON object"),
        ("many.json item 3", "record has no 'text'"),
    ]
    single = tmp_path / "single.jsonl"
    single.write_text(json.dumps({"id": "s1", "text": "Only one."}) + "\n", "utf-8")
    (rec,) = load_file(single, doc_id="single")
    assert isinstance(rec, RawDocument) and (rec.doc_id, rec.format) == ("s1", "jsonl")
    for bad, reason in (("[]", "no records"), ("[" * 5000 + "]" * 5000, "nested too deeply")):
        path = tmp_path / "bad.json"
        path.write_text(bad, "utf-8")
        with pytest.raises(ValueError, match=reason):
            load_file(path, doc_id="bad")
