"""In-process `/v1/ask` p50 with the reranking stage reading its windows adaptively (the
default), reading all of them, never reading more where none scores well (`read_more_below`
off), reading the answer sentence with its neighbour whatever its score (`pair_below` off), and
off, against the reference question encode of the same run.

    python bench/windows.py --index news=NEWS_INDEX --index seed=SEED_INDEX

NEWS_INDEX is `ragqa index --source ../shared/eval/news-dev/corpus --out NEWS_INDEX`; its
reader-written questions are asked in turn (distinct questions). Other indexes are asked the two
seed questions `make bench` asks. The settings take turns, a block of questions each, so that
a machine slowing down for a while slows all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import NEWS, QUESTION, ROUNDS, asking, encode_question, pct, taking_turns


def reranking(settings: Any, embedder: Any, cross: Any, **changes: Any) -> Any:
    """An answerer with the reranking stage, its fitted parameters changed by ``changes``."""
    from service.api.app import build_answerer

    answerer = build_answerer(settings, embedder, cross_encoder=cross)
    assert answerer.reranker is not None
    answerer.reranker.model = replace(answerer.reranker.model, **changes)
    return answerer


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--index", action="append", required=True, help="NAME=DIR (news: news-dev)")
    ap.add_argument("--requests", type=int, default=200, help="Per setting and index.")
    ap.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help="The settings take turns in this many blocks each (a machine that slows down for a "
        "while then slows all of them alike).",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from indexer.embed import SentenceTransformerEmbedder
    from service.api.app import build_answerer, load_reranker_model
    from service.settings import Settings

    embedder = SentenceTransformerEmbedder()
    cross = load_reranker_model(Settings())
    p50: dict[str, dict[str, float]] = {}
    over: dict[str, dict[str, float]] = {}
    for spec in args.index:
        name, index = spec.split("=", 1)
        questions = [QUESTION, "What is continuous learning?"]
        if name == "news":
            lines = (NEWS / "questions.jsonl").read_text("utf-8").splitlines()
            questions = [json.loads(line)["question"] for line in lines if line.strip()]
        settings = Settings(index_dir=Path(index))
        answerers = {
            "adaptive": reranking(settings, embedder, cross),
            "all_windows": reranking(settings, embedder, cross, window_gap=None),
            "no_read_more": reranking(settings, embedder, cross, read_more_below=None),
            "every_pair": reranking(settings, embedder, cross, pair_below=None),
            "off": build_answerer(Settings(index_dir=Path(index), reranker=False), embedder),
        }
        work = {label: asking(a, questions) for label, a in answerers.items()}
        taken = taking_turns(
            {"encode": encode_question(embedder), **work}, args.requests, args.rounds
        )
        p50[name] = {label: pct(t, 50) for label, t in taken.items()}
        over[name] = {k: round(v / p50[name]["encode"], 2) for k, v in p50[name].items()}
    report = {"inprocess_ms_p50": p50, "over_encode_p50": over}
    print(json.dumps(report, indent=2))  # noqa: T201 - this is the report
    return 0


if __name__ == "__main__":
    sys.exit(main())
