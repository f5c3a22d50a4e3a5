"""Turn a raw document into clean article text: markup out, page chrome out."""

from __future__ import annotations

import html
import re
import unicodedata

from indexer.models import Document, RawDocument

_BLOCK_TAGS = (
    "address article aside blockquote dd div dl dt fieldset figcaption footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tbody thead tfoot tr ul"
).split()
# Elements that never hold article prose on a news page.
_DROP_TAGS = (
    "script style noscript template nav header footer aside form iframe svg canvas button "
    "select input textarea figure figcaption picture video audio object embed"
).split()
# Private-use sentinels: unlike \u2028/\u2029 they are not matched by \s.
_PARA, _LINE = "\ue000", "\ue001"

_SPACES = re.compile(r"[ \t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
_EMPHASIS = re.compile(r"(\*\*|__)(\S(?:.*?\S)?)\1")

# Labels of navigation, sharing and promo widgets as they appear when a page is dumped as text.
_NAV_LABELS = frozenset(
    label.strip()
    for label in """
    skip to main content|skip to content|skip to navigation|jump to content|photo for article
    |next story|previous story|next article|previous article|next post|previous post|share it
    |share|share this|share this article|share this story|share on facebook|share on twitter
    |share on linkedin|share via email|tweet|email|print|comments|leave a comment|view comments
    |advertisement|sponsored|sponsored content|read more|read next|continue reading|related
    |related articles|related stories|related posts|recommended|recommended for you|more stories
    |more news|top stories|trending|trending now|most popular|most read|subscribe|subscribe now
    |sign in|sign up|log in|login|register|menu|close|search|home|back to top|view more|view all
    |see more|show more|load more|follow us|newsletter|cookie settings|accept all cookies
    |listen to this article|open in app|copy link|whatsapp|facebook|twitter|linkedin|reddit
    |pinterest|telegram|recent quotes|market data|tags|topics|image|photo|video
    """.split("|")
)
_LEGAL_OR_PROMO = re.compile(
    r"\bby (?:accessing|using|continuing to use) (?:this|our) (?:page|site|website|service)"
    r"|\byou agree to (?:the|our)\b|\ball rights reserved\b|^(?:©|copyright\b)"
    r"|\bfor more information,? (?:please )?(?:visit|see|go to|contact)\b"
    r"|\bfor informational purposes only\b"
    r"|\b(?:does|do) not constitute (?:financial|investment|legal)"
    r"|\bnot (?:financial|investment) advice\b|\bfollow us on\b|\bdownload (?:our|the) app\b"
    r"|\bsign up (?:for|to) (?:our|the) newsletter\b|\bclick here to\b",
    re.I,
)
_QUOTE_ATTRIBUTION = re.compile(
    r"\b(?:supplied|provided|powered) by\b.*(?:www\.|https?://|\.(?:com|io|net|org)\b)"
    r"|\b(?:quotes?|prices?|data)\b.{0,40}\bdelayed\b",
    re.I,
)
_TICKER_ROW = re.compile(
    r"^(?:[A-Z][A-Z0-9.\-^]{0,7}\s+)?"
    r"(?:[$€£¥]?[+\-−]?\d[\d,]*(?:\.\d+)?%?\s*|\(\s*[+\-−]?\d[\d,]*(?:\.\d+)?%?\s*\)\s*)+$"
)
# A gallery's counter: "Image 1 of 8", "Photo 3/12".
_GALLERY = re.compile(r"^(?:image|photo|picture|slide)s? \d+ ?(?:of|/) ?\d+$", re.I)
_CREDIT = re.compile(r"^(?:photo|image|picture|illustration|video)s?(?: credit)?\s*[:/|]", re.I)
_SENTENCE_END = re.compile(r"[.!?…\"”’)]$")
# Inline TeX left by pages that render it client-side (MathJax, KaTeX), and its text-style macros.
_TEX_INLINE = re.compile(r"\$([^$\n]{1,80})\$")
_TEX_TEXT = re.compile(
    r"\\(?:text|textrm|textit|textbf|textsf|texttt|mathrm|mathit|mathbf|mathsf|operatorname)"
    r"\{([^{}$\\]*)\}"
)
# Legal and promo footer lines are short; a longer line that matches is an article paragraph.
_FOOTER_LINE_WORDS = 60


def clean_document(raw: RawDocument) -> Document | None:
    """Return the cleaned document, or None when no article text is left.

    Page chrome is removed from page dumps (text files, WordPress content, Markdown, and HTML
    pages the article extractor found nothing in). A JSON or JSONL record's ``text``, and the
    article an extractor took from an HTML page, are already one article's text, so they are only
    normalised (and a first line repeating the title dropped): the chrome rules are built for page
    dumps, and would drop a one-line record that reads like a headline, a paragraph that happens to
    say "for more information, visit", or recipe steps that repeat.
    """
    body = html_to_text(raw.html) if raw.html is not None else raw.text or ""
    if raw.html is None:
        body = _EMPHASIS.sub(r"\2", html.unescape(body))
    blocks = [[_normalise_line(line) for line in block] for block in _blocks(body)]
    blocks = [kept for block in blocks if (kept := [line for line in block if line])]
    title = _normalise_line(raw.title or "") or None
    if not is_extracted(raw):
        inferred = title is None
        if inferred:
            title = _headline(blocks)
        blocks = remove_chrome(blocks, title)
        if inferred and title is not None and not any(blocks):
            blocks, title = [[title]], None  # a page that is a single headline-like line
    else:
        if raw.format == "html":
            # Widget labels an extractor keeps inside the article ("Share it", "Advertisement"):
            # whole-line matches only, so no sentence of the story is touched.
            blocks = [
                kept for block in blocks if (kept := [x for x in block if not is_nav_line(x)])
            ]
        if title is not None and blocks and _key(blocks[0][0]) == _key(title):
            rest = [blocks[0][1:], *blocks[1:]]
            if any(rest):
                blocks = rest  # text that repeats its title as its first line
    if not any(blocks):
        return None
    body_text = "\n\n".join("\n".join(block) for block in blocks if block)
    if title is None:
        title = _fallback_title(body_text)
        text = body_text
    else:
        text = f"{title}\n\n{body_text}"
    return Document(
        doc_id=raw.doc_id,
        title=title,
        text=text,
        path=raw.path,
        format=raw.format,
        url=raw.url,
        site_name=raw.site_name,
        author=raw.author,
        published=raw.published,
    )


def is_extracted(raw: RawDocument) -> bool:
    """The text is one article's text already: a record's, or an article extractor's output."""
    return raw.format in ("json", "jsonl") or (raw.format == "html" and raw.html is None)


def html_to_text(markup: str) -> str:
    """Render HTML to text with one line per block element and blank lines between blocks."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    root = (
        soup.find("article") or soup.find("main") or soup.find(True, attrs={"role": "main"}) or soup
    )
    for tag in root.find_all(_DROP_TAGS):
        tag.decompose()
    for tag in root.find_all("br"):
        tag.replace_with(_LINE)
    for tag in root.find_all(["td", "th"]):
        tag.append(" ")
    for tag in root.find_all(_BLOCK_TAGS):
        tag.insert_before(_PARA)
        tag.insert_after(_PARA)
    text = re.sub(r"\s+", " ", root.get_text())
    text = text.replace(_LINE, "\n")
    return re.sub(rf" ?{_PARA}[ {_PARA}]*", "\n\n", text)


def _blocks(text: str) -> list[list[str]]:
    """Split text into blocks (separated by blank lines) of lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [block.split("\n") for block in re.split(r"\n[ \t\u00a0]*\n", text)]


def _normalise_line(line: str) -> str:
    line = unicodedata.normalize("NFC", _INVISIBLE.sub("", line))
    if "\\" in line:
        line = _TEX_INLINE.sub(_untex, line)
    return _SPACES.sub(" ", line).strip()


def _untex(match: re.Match[str]) -> str:
    """Inline TeX that only styles text (``$\\text{o}1$``) as the text a reader sees (``o1``)."""
    inner = _TEX_TEXT.sub(r"\1", match.group(1))
    if inner == match.group(1) or "\\" in inner or "{" in inner:
        return match.group(0)  # real mathematics, or no TeX at all: left as written
    return inner


def _key(line: str) -> str:
    return re.sub(r"[^\w%$€£]+", " ", line.casefold()).strip()


def _words(line: str) -> int:
    return len(line.split())


def is_nav_line(line: str) -> bool:
    """A navigation or widget label, a lone symbol, or an image credit."""
    key = _key(line)
    if len(line) <= 2 or not key:
        return True
    if key in _NAV_LABELS or _GALLERY.match(line):
        return True
    return _words(line) <= 12 and bool(_CREDIT.match(line))


def is_market_data(line: str) -> bool:
    """A row of a stock-quote table: ticker, price, change and percentage tokens only."""
    return bool(_TICKER_ROW.match(line)) and bool(re.search(r"\d[.,]\d|%", line))


def is_legal_or_promo(line: str) -> bool:
    return bool(_LEGAL_OR_PROMO.search(line) or _QUOTE_ATTRIBUTION.search(line))


def _is_label(line: str) -> bool:
    """Short and not a sentence: what headers of widgets and tables look like."""
    return _words(line) <= 6 and not _SENTENCE_END.search(line)


def remove_chrome(blocks: list[list[str]], title: str | None) -> list[list[str]]:
    """Drop page chrome from blocks of lines, by rules that hold across news sites."""
    flat = [(b, i, line) for b, block in enumerate(blocks) for i, line in enumerate(block)]
    drop = {n for n, (_, _, line) in enumerate(flat) if is_nav_line(line) or is_market_data(line)}
    # Widget headers next to a quote table ("Recent Quotes", "Symbol Price Change (%)").
    market = [n for n, (_, _, line) in enumerate(flat) if is_market_data(line)]
    for n in market:
        for step in (-1, 1):
            m, budget = n + step, 4
            while 0 <= m < len(flat) and budget:
                line = flat[m][2]
                if m in drop:
                    m += step
                    continue
                if not (_is_label(line) or is_legal_or_promo(line)):
                    break
                drop.add(m)
                budget -= 1
                m += step
    # Legal and promo footers: the whole block when it is short, else just the line. A line longer
    # than a footer line is a paragraph that mentions such words, and stays.
    for b, block in enumerate(blocks):
        hits = [
            i
            for i, line in enumerate(block)
            if _words(line) <= _FOOTER_LINE_WORDS and is_legal_or_promo(line)
        ]
        if hits:
            whole = sum(_words(line) for line in block) <= 80
            for n, (fb, i, _) in enumerate(flat):
                if fb == b and (whole or i in hits):
                    drop.add(n)
    # Repeated lines (duplicated headlines, captions) and the headline if stated apart.
    seen = {_key(title)} if title else set()
    for n, (_, _, line) in enumerate(flat):
        if n in drop or _words(line) > 40:
            continue
        key = _key(line)
        if key in seen:
            drop.add(n)
        seen.add(key)
    out: list[list[str]] = [[] for _ in blocks]
    for n, (b, _, line) in enumerate(flat):
        if n not in drop:
            out[b].append(line)
    return [block for block in out if block]


def _headline(blocks: list[list[str]]) -> str | None:
    """The first line of a text dump, when it reads like a headline."""
    for block in blocks:
        for line in block:
            if is_nav_line(line):
                continue
            if _words(line) <= 25 and not re.search(r"[.,;:]$", line):
                return line
            return None
    return None


def _fallback_title(text: str, words: int = 12) -> str:
    first = text.split("\n", 1)[0].split()
    return " ".join(first[:words]) + ("…" if len(first) > words else "")
