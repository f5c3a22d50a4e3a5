"""How well HTML pages are cleaned: article text kept, page chrome dropped.

Makes news pages whose article text is known (paragraphs of the SQuAD half, in
../shared/eval/squad-dev-half) wrapped in the chrome real sites carry, including the cases that
defeat a first-container rule: a promo card or a reader comment as the first <article>, a <main>
that is an ad slot, share widgets and galleries inside the story, sidebars of headlines, and
article text that repeats a line (recipe steps). Each page is read as `ragqa index` reads it
(format detection, extraction, cleaning) and scored against its article text with the
article-extraction-benchmark metric (scrapinghub): 4-word shingles, per-page precision and
recall, F1 of their means. The page-dump rules alone (what HTML got before trafilatura) are
scored on the same pages.

    .venv/bin/python bench/extraction.py [--pages 96] [--json bench/results/extraction.json]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SQUAD = ROOT.parent / "shared" / "eval" / "squad-dev-half" / "corpus" / "squad-paragraphs.jsonl"

NAV = "Home World Business Tech Science Health Sport Culture Opinion Video".split()
WIDGETS = [
    "Share this with Messenger",
    "Share this with Email",
    "Share this with Twitter",
    "JUST WATCHED",
    "Advertisement",
    "Read more",
    "Image 1 of 8",
    "Replay",
]
COMMENTS = [
    "Great article, thanks for sharing this with us all!",
    "I disagree with most of this, the author ignores the obvious counterpoints here.",
    "Does anyone know where I can read the full report mentioned in the piece?",
]


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def score_page(true: str, pred: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingles, normalised to sum to 1, as the benchmark's evaluate.py."""
    t, p = shingles(true), shingles(pred)
    tp = float(sum((t & p).values()))
    fp = float(sum((p - t).values()))
    fn = float(sum((t - p).values()))
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def metrics(scores: list[tuple[float, float, float]]) -> dict[str, float]:
    def prec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)

    def rec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(prec(*s) for s in scores if s[0] + s[1] > 0)
    r = statistics.mean(rec(*s) for s in scores if s[0] + s[2] > 0)
    return {
        "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
        "precision": round(p, 3),
        "recall": round(r, 3),
        "pages_scoring_0": sum(1 for s in scores if s[0] == 0),
    }


def stories(count: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(headline, paragraphs) from consecutive paragraphs of one SQuAD article."""
    by_article: dict[str, list[str]] = {}
    for line in SQUAD.read_text("utf-8").splitlines():
        rec = json.loads(line)
        by_article.setdefault(rec["title"], []).append(rec["text"])
    out = []
    names = sorted(by_article)
    for i in range(count):
        name = names[i % len(names)]
        paragraphs = by_article[name]
        at = rng.randrange(max(1, len(paragraphs) - 5))
        body = paragraphs[at : at + rng.randint(3, 5)]
        out.append((f"{name.replace('_', ' ')}: what we know, part {i + 1}", body))
    return out


def page(kind: int, headline: str, body: list[str], rng: random.Random) -> tuple[str, str]:
    """An HTML page of chrome ``kind`` around ``body``, and the article text it holds."""
    e = html.escape
    paragraphs = list(body)
    if kind == 7:  # a recipe-like story whose steps repeat a line
        step = "Stir well and let it rest for five minutes."
        paragraphs = [x for p in body for x in (p, step)]
    ps = [f"<p>{e(p)}</p>" for p in paragraphs]
    if kind in (2, 5):  # widgets inside the story
        for at in sorted(rng.sample(range(1, len(ps)), k=min(2, len(ps) - 1)), reverse=True):
            ps.insert(at, f'<div class="share"><span>{e(rng.choice(WIDGETS))}</span></div>')
        ps.insert(1, '<div class="gallery"><img src="a.jpg"><p>Image 1 of 8</p></div>')
    story = "\n".join(ps)
    nav = (
        "<nav><ul>"
        + "".join(f'<li><a href="/{n.lower()}">{n}</a></li>' for n in NAV)
        + "</ul></nav>"
    )
    related = (
        "<aside><h3>Most read</h3><ul>"
        + "".join(
            f'<li><a href="/s{i}">{e(h)}</a></li>'
            for i, h in enumerate(
                [
                    "Markets slide as rates rise",
                    "Ten things to do this weekend",
                    "The week in photos",
                ]
            )
        )
        + "</ul></aside>"
    )
    footer = (
        '<footer><p>© 2026 Example Media. All rights reserved.</p><p><a href="/privacy">Privacy'
        '</a> <a href="/terms">Terms</a></p></footer>'
    )
    byline = f'<p class="byline">By <a href="/a">Dana Reyes</a> · <time datetime="2026-03-0{kind % 9 + 1}">March {kind % 9 + 1}, 2026</time></p>'
    promo = (
        '<article class="promo"><h2><a href="/other">Subscribe for $1 a week</a></h2>'
        "<p>Unlimited access to award-winning journalism.</p></article>"
    )
    comments = "".join(
        f'<article class="comment"><p class="who">reader{i}</p><p>{e(c)}</p></article>'
        for i, c in enumerate(COMMENTS)
    )
    head = (
        f"<head><meta charset=utf-8><title>{e(headline)} | Example News</title>"
        f'<meta property="og:title" content="{e(headline)}"></head>'
    )
    title = f"<h1>{e(headline)}</h1>"
    if kind == 0:  # semantic page
        main = f"<main><article>{title}{byline}{story}</article></main>{related}"
    elif kind == 1:  # a promo card is the first <article>
        main = f'{promo}<div class="story">{title}{byline}{story}</div>{related}'
    elif kind == 2:  # widgets inside the article
        main = f"<article>{title}{byline}{story}</article>{related}"
    elif kind == 3:  # <main> is an ad slot; the story sits elsewhere
        main = (
            f'<main><div class="ad">Advertisement</div></main><div id="content">{title}{byline}'
            f"{story}</div>{related}"
        )
    elif kind == 4:  # reader comments as <article> elements after the story
        main = f'<div class="story-body">{title}{byline}{story}</div><section class="comments">{comments}</section>'
    elif kind == 5:  # divs only, widgets inside
        main = f'<div class="wrap"><div class="hd">{title}</div>{byline}<div class="txt">{story}</div></div>{related}'
    elif kind == 6:  # cookie banner and newsletter box around a semantic article
        main = (
            '<div class="cookie"><p>We use cookies to improve your experience.</p>'
            "<button>Accept all cookies</button></div>"
            f"<article>{title}{byline}{story}"
            '<div class="newsletter"><p>Sign up for our newsletter</p></div></article>'
        )
    else:  # repeated steps in the article text itself
        main = f"<article>{title}{byline}{story}</article>{related}"
    return f"<!doctype html><html>{head}<body>{nav}{main}{footer}</body></html>", "\n".join(
        paragraphs
    )


def body_of(text: str, title: str) -> str:
    """The article text without the headline the cleaned document starts with."""
    return text[len(title) :].lstrip() if text.startswith(title) else text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=96)
    parser.add_argument("--json", type=Path, default=None, help="Write the results here too.")
    args = parser.parse_args()
    from indexer.clean import clean_document
    from indexer.load import load_file
    from indexer.models import RawDocument

    rng = random.Random(0)
    pages = [
        (*page(i % 8, headline, body, rng), headline)
        for i, (headline, body) in enumerate(stories(args.pages, rng))
    ]

    def ragqa(markup: str, work: Path) -> str:
        path = work / "page.html"
        path.write_text(markup, "utf-8")
        (raw,) = load_file(path, "page")
        assert isinstance(raw, RawDocument)
        doc = clean_document(raw)
        return body_of(doc.text, doc.title) if doc else ""

    def rules(markup: str, _: Path) -> str:
        doc = clean_document(RawDocument(doc_id="p", path="p.html", format="html", html=markup))
        return body_of(doc.text, doc.title) if doc else ""

    extractors: dict[str, Callable[[str, Path], str]] = {
        "ragqa (trafilatura + cleaning)": ragqa,
        "page-dump rules only (before)": rules,
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extract in extractors.items():
            scores = [score_page(gold, extract(markup, Path(tmp))) for markup, gold, _ in pages]
            results[name] = metrics(scores)
            by_kind = {
                k: metrics([s for i, s in enumerate(scores) if i % 8 == k])["f1"] for k in range(8)
            }
            results[name]["f1_by_page_kind"] = by_kind
    report = {"pages": len(pages), "results": results}
    print(json.dumps(report, indent=2))  # noqa: T201 - this is the report
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
