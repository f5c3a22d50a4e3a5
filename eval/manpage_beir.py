"""Make a BEIR-format dataset from this machine's manual pages, for `ragqa eval --beir`.

No public BEIR dataset can be downloaded here, so this builds a stand-in from text every Debian
machine has: each query is a page's one-line NAME description ("list directory contents"), and
its one relevant document is the first 350 words of the same page's DESCRIPTION section. The
command name is left out of the document's title, so a query has to be matched by what the page
says, not by its name. Pages whose description repeats another's are dropped.

    python eval/manpage_beir.py OUT_DIR [--queries 400] [--pages 3000]
    ragqa eval --beir OUT_DIR

The dataset depends on which manual pages are installed; its size is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAN1 = Path("/usr/share/man/man1")
_NAME = re.compile(r"^NAME\s*\n(.*?)\n\s*\n", re.S | re.M)
_DESCRIPTION = re.compile(r"^DESCRIPTION\s*\n(.*?)(?:\n[A-Z][A-Z ]+\n|\Z)", re.S | re.M)


def render(page: Path) -> tuple[str, str] | None:
    """(description, body) of one page, or None when it lacks either."""
    try:
        text = subprocess.run(
            f"zcat '{page}' | groff -man -Tutf8 -rLL=3000n -rHY=0 -P-c -P-b -P-u",
            shell=True,
            capture_output=True,
            timeout=30,
        ).stdout.decode("utf-8", "ignore")
    except subprocess.TimeoutExpired:
        return None
    name, description = _NAME.search(text), _DESCRIPTION.search(text)
    if not name or not description or " - " not in name.group(1):
        return None
    summary = " ".join(name.group(1).split()).split(" - ", 1)[1].strip()
    words = description.group(1).split()
    if len(words) < 60 or len(summary.split()) < 3:
        return None
    return summary, " ".join(words[:350])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--pages", type=int, default=3000, help="Most documents to keep.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pages = sorted(MAN1.glob("*.gz"))
    rng.shuffle(pages)
    # Cloud SDKs install thousands of near-identical pages; keep them from dominating.
    generated = [p for p in pages if p.name.startswith("gcloud")][:2500]
    pages = [p for p in pages if not p.name.startswith("gcloud")] + generated
    with ThreadPoolExecutor(8) as pool:
        rendered = [r for r in pool.map(render, pages) if r]
    seen: set[str] = set()
    docs: list[tuple[str, str]] = []
    for summary, body in rendered:
        if summary.casefold() not in seen:
            seen.add(summary.casefold())
            docs.append((summary, body))
    docs = docs[: args.pages]
    (args.out / "qrels").mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for i, (_, body) in enumerate(docs):
            corpus.write(json.dumps({"_id": f"m{i}", "title": "", "text": body}) + "\n")
    chosen = rng.sample(range(len(docs)), min(args.queries, len(docs)))
    with (
        (args.out / "queries.jsonl").open("w", encoding="utf-8") as queries,
        (args.out / "qrels" / "test.tsv").open("w", encoding="utf-8") as qrels,
    ):
        qrels.write("query-id\tcorpus-id\tscore\n")
        for i in chosen:
            queries.write(json.dumps({"_id": f"q{i}", "text": docs[i][0]}) + "\n")
            qrels.write(f"q{i}\tm{i}\t1\n")
    print(f"{len(docs)} documents, {len(chosen)} queries in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
