"""Where to recognise entities: once per sentence at build time, or on each query's candidates.

    python bench/entities.py [--corpus ../shared/eval/news-dev/corpus] [--questions N]

Builds the corpus twice (with and without entities) and reports: the build's recognition rate
(sentences per second) and what it adds to the build and to the index at 100,000 passages, by
this corpus's sentences per passage; and what recognising the cross-encoder's windows on each
query would cost instead (p50 per question, spaCy run on the five sentences read).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/eval/news-dev/corpus")
    ap.add_argument("--questions", type=int, default=100)
    args = ap.parse_args()
    from indexer.build import build_index
    from indexer.embed import SentenceTransformerEmbedder
    from indexer.entities import EntityRecognizer, bundled_ner_path
    from service.api.app import build_answerer
    from service.schemas import AskRequest
    from service.settings import Settings

    embedder = SentenceTransformerEmbedder()
    recognizer = EntityRecognizer(bundled_ner_path())
    work = Path(tempfile.mkdtemp(prefix="ragqa-entities-"))
    plain, full = work / "plain", work / "entities"
    started = time.perf_counter()
    build_index(args.corpus, plain, embedder)
    plain_s = time.perf_counter() - started
    started = time.perf_counter()
    report = build_index(args.corpus, full, embedder, entities=recognizer)
    full_s = time.perf_counter() - started
    db = sqlite3.connect(full / "current" / "chunks.sqlite")
    rows = db.execute("SELECT count(*) FROM entities").fetchone()[0]
    texts = [
        text[start:end]
        for text, start, end in db.execute(
            'SELECT d.text, s.start, s."end" FROM sentences s JOIN documents d USING (doc_id)'
        )
    ]
    db.close()
    started = time.perf_counter()
    recognizer.recognise(texts)
    recognition_s = time.perf_counter() - started
    size = lambda p: (p / "current" / "chunks.sqlite").stat().st_size  # noqa: E731
    per_passage = report.sentences / report.chunks
    scale = 100_000 / report.chunks
    questions_file = args.corpus.parent / "questions.jsonl"
    questions = [
        json.loads(line)["question"]
        for line in questions_file.read_text("utf-8").splitlines()
        if line.strip()
    ][: args.questions]
    answerer = build_answerer(Settings(index_dir=full), embedder)
    assert answerer.reranker is not None
    per_query = []
    for q in questions:
        response = answerer.ask(AskRequest(question=q))
        del response
        hits, scored = answerer.rank(q, 15)
        windows = answerer.reranker.candidates(q, hits, scored)[: answerer.reranker.windows]
        started = time.perf_counter()
        recognizer.recognise([c.sentence.text for c in windows])
        per_query.append((time.perf_counter() - started) * 1000)
    result = {
        "corpus": str(args.corpus),
        "passages": report.chunks,
        "sentences": report.sentences,
        "sentences_per_passage": round(per_passage, 2),
        "build_s_without": round(plain_s, 1),
        "build_s_with": round(full_s, 1),
        "recognised_sentences_per_s": round(report.sentences / recognition_s, 1),
        "entities": rows,
        "database_mib_without": round(size(plain) / 2**20, 2),
        "database_mib_with": round(size(full) / 2**20, 2),
        "at_100k_passages": {
            "recognition_minutes": round(recognition_s * scale / 60, 1),
            "build_minutes_without": round(plain_s * scale / 60, 1),
            "extra_mib": round((size(full) - size(plain)) * scale / 2**20, 1),
        },
        "query_time_alternative_ms_p50": round(statistics.median(per_query), 2),
    }
    print(json.dumps(result, indent=2))  # noqa: T201 - the report
    return 0


if __name__ == "__main__":
    sys.exit(main())
