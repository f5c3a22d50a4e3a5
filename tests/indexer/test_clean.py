"""Page chrome is removed by general rules; article text, headings included, is kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from indexer.clean import clean_document, is_legal_or_promo, is_market_data, is_nav_line
from indexer.models import RawDocument

CHROME = [
    "Skip to main content",
    "Photo for article",
    "Next Story",
    "Share it",
    "Recent Quotes",
    "View More",
    "Symbol Price Change",
    "Quotes delayed",
    "By accessing this page",
    "For more information, visit",
    "cloudquote",
    "AMZN",
    "NVDA",
    "Privacy Policy",
]


def _clean(text: str, title: str | None = None) -> str:
    doc = clean_document(
        RawDocument(doc_id="d", path="d.txt", format="text", text=text, title=title)
    )
    assert doc is not None
    return doc.text


def test_no_seed_chunk_contains_chrome(seed_index: Path) -> None:
    db = sqlite3.connect(seed_index / "current" / "chunks.sqlite")
    chunks = [row[0] for row in db.execute("SELECT text FROM chunks")]
    assert len(chunks) > 40
    for chunk in chunks:
        for chrome in CHROME:
            assert chrome not in chunk, f"{chrome!r} left in a chunk: {chunk[:80]!r}"
        assert "\nX\n" not in chunk and not chunk.startswith("X\n")
    # Every headline appears once per document, not duplicated by the page's own repeat.
    for (text,) in db.execute("SELECT text FROM documents"):
        first = text.split("\n", 1)[0]
        assert text.count(first) == 1


def test_article_headings_and_body_are_kept(seed_index: Path) -> None:
    db = sqlite3.connect(seed_index / "current" / "chunks.sqlite")
    text = db.execute(
        "SELECT text FROM documents WHERE doc_id = '004_18dd4046727b8826'"
    ).fetchone()[0]
    for kept in [
        "The Research vs. Product Rift",
        "Conclusion: A Turning Point in AI History",
        "the race for AGI enters a new, more fragmented",
    ]:
        assert kept in text
    assert text.rstrip().endswith("more innovative phase.")


@pytest.mark.parametrize(
    "line",
    [
        "Skip to main content",
        "Share it",
        "X",
        "Next Story",
        "Photo: Reuters/Jane Doe",
        "Tweet",
        "Advertisement",
        "|",
    ],
)
def test_nav_lines(line: str) -> None:
    assert is_nav_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Trend 1: The War for AI Superstars",
        "The Research vs. Product Rift",
        "Share prices fell 3%.",
        "He said no.",
    ],
)
def test_content_lines_are_not_nav(line: str) -> None:
    assert not is_nav_line(line)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("AMZN  245.02", True),
        ("-1.27 (-0.52%)", True),
        ("BRK.B 412.10 +1.05 (0.26%)", True),
        ("GPT-4", False),
        ("2026", False),
        ("Revenue rose 12% to $4.2bn in 2025.", False),
    ],
)
def test_market_data(line: str, expected: bool) -> None:
    assert is_market_data(line) is expected


@pytest.mark.parametrize(
    "line",
    [
        "By accessing this page, you agree to the Privacy Policy and Terms Of Service.",
        "For more information, visit https://www.example.com/.",
        "© 2026 Example Media. All rights reserved.",
        "This content is for informational purposes only.",
        "Stock Quote API & Stock News API supplied by www.cloudquote.io",
        "Market data delayed by 15 minutes.",
    ],
)
def test_legal_and_promo(line: str) -> None:
    assert is_legal_or_promo(line)


def test_quote_widget_removed_from_other_site_layout() -> None:
    text = (
        "Chipmakers Rally\n\nShares of chipmakers rose on Tuesday after strong results.\n\n"
        "Markets\nTicker Last Chg\nINTC 31.20\n+0.40 (1.30%)\nTSM 180.11\n-2.01 (-1.10%)\n"
        "Data delayed 15 minutes\n\nAnalysts expect more gains."
    )
    assert _clean(text) == (
        "Chipmakers Rally\n\nShares of chipmakers rose on Tuesday after strong results.\n\n"
        "Analysts expect more gains."
    )


def test_promo_footer_block_removed_but_long_paragraph_kept() -> None:
    promo = "Acme Corp builds widgets for everyone.\nFor more information, visit https://acme.test."
    long_para = " ".join(["The story continues with real reporting."] * 20)
    out = _clean(f"Headline Here\n\n{long_para}\n\n{promo}")
    assert "Acme Corp" not in out and long_para in out


def test_whitespace_entities_and_emphasis() -> None:
    out = _clean("Title\n\nA\u00a0price\u200b of &pound;5 &amp; **bold**   words.\r\n\r\n\r\nNext.")
    assert out == "Title\n\nA price of £5 & bold words.\n\nNext."


def test_document_of_only_chrome_is_dropped() -> None:
    raw = RawDocument(
        doc_id="d", path="d.txt", format="text", text="Skip to main content\nShare it\nX"
    )
    assert clean_document(raw) is None


@pytest.mark.parametrize(
    "text",
    [
        "How do I learn Python?",  # one line that reads like a headline (a Quora question)
        "What is the best way to invest $1000? This is not financial advice, but index funds.",
        "Aspirin lowers fever. For more information, visit the trial's page.",
    ],
)
def test_jsonl_record_text_is_kept_whole(text: str) -> None:
    """A record is a document's own text: the page-chrome rules do not run on it."""
    doc = clean_document(RawDocument(doc_id="r", path="c.jsonl", format="jsonl", text=text))
    assert doc is not None
    assert doc.text == text
    assert doc.title and text.startswith(doc.title.rstrip("…"))


def test_page_of_one_headline_like_line_is_kept() -> None:
    assert _clean("Aspirin lowers fever in adults") == "Aspirin lowers fever in adults"


def test_long_paragraph_mentioning_promo_words_is_kept() -> None:
    para = " ".join(["Researchers measured the effect across many hospitals."] * 8)
    para += " For more information, visit the registry."
    out = _clean(f"Headline Here\n\n{para}\n\nFor more information, visit https://x.test.")
    assert para in out and "https://x.test" not in out


def test_jsonl_record_repeating_its_title_keeps_it_once() -> None:
    def clean(text: str) -> str | None:
        raw = RawDocument(doc_id="r", path="c.jsonl", format="jsonl", text=text, title="Tides")
        doc = clean_document(raw)
        return doc.text if doc else None

    assert clean("Tides\n\nThe moon pulls the sea.") == "Tides\n\nThe moon pulls the sea."
    assert clean("Tides\nThe moon pulls the sea.") == "Tides\n\nThe moon pulls the sea."
    assert clean("Tides") == "Tides\n\nTides"
    assert clean("\n \n\nThe moon pulls the sea.") == "Tides\n\nThe moon pulls the sea."


def test_inline_tex_that_only_styles_text_becomes_that_text() -> None:
    out = _clean(
        "Models\n\nHis work on the $\\text{o}1$ and $\\mathrm{o3}$ models cost $5 or $10.\n\n"
        "The loss is $\\frac{a}{b}$ and $x^2$ stays."
    )
    assert out == (
        "Models\n\nHis work on the o1 and o3 models cost $5 or $10.\n\n"
        "The loss is $\\frac{a}{b}$ and $x^2$ stays."
    )
