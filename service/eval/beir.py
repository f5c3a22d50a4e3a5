"""BEIR-format benchmarks: index a corpus into a temporary index, score lexical, dense, hybrid."""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.errors import SourceError
from service.qa.answer import Answerer
from service.qa.retrieval import MODES, Mode


@dataclass(frozen=True)
class BeirData:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(root: Path, split: str = "test") -> BeirData:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` from ``root``."""
    corpus, queries_file, qrels_file = (
        root / "corpus.jsonl",
        root / "queries.jsonl",
        root / "qrels" / f"{split}.tsv",
    )
    for path in (corpus, queries_file, qrels_file):
        if not path.is_file():
            raise SourceError(f"{root} is not a BEIR dataset: {path.relative_to(root)} is missing")
    queries: dict[str, str] = {}
    for lineno, line in enumerate(queries_file.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rec = json.loads(line)
                queries[str(rec["_id"])] = str(rec["text"])
            except (ValueError, KeyError, TypeError) as e:
                raise SourceError(f"{queries_file} line {lineno}: not a query record") from e
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header, or a malformed line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    qrels = {q: rel for q, rel in qrels.items() if q in queries}
    if not qrels:
        raise SourceError(f"{qrels_file} has no judgements for the queries in {queries_file}")
    return BeirData(corpus, queries, qrels)


def ndcg_at(ranked: list[str], rel: dict[str, int], k: int) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], rel: dict[str, int], k: int) -> float:
    relevant = {d for d, r in rel.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def rank_documents(answerer: Answerer, question: str, mode: Mode, k: int) -> list[str]:
    """Document ids, best first: a document ranks where its best passage ranks.

    Passages are ordered as ``/v1/ask`` orders them (in hybrid mode, retrieval plus sentence
    evidence; see ``Answerer.rank``).
    """
    hits, _ = answerer.rank(question, k * 3, mode)
    docs: list[str] = []
    for hit in hits:
        if hit.chunk.doc_id not in docs:
            docs.append(hit.chunk.doc_id)
    return docs[:k]


def evaluate_beir(
    root: Path,
    build: Callable[[Path, Path], Any],
    open_answerer: Callable[[Path], Answerer],
    progress: Callable[[int, str], Callable[[int], Any]] | None = None,
) -> dict[str, Any]:
    """Index ``root``'s corpus in a temporary directory and score each retriever on its qrels.

    ``progress(total, label)``, when given, returns a function called with 1 per query scored.
    """
    data = load_beir(root)
    with tempfile.TemporaryDirectory(prefix="ragqa-beir-") as tmp:
        source, out = Path(tmp) / "source", Path(tmp) / "index"
        source.mkdir()
        (source / "corpus.jsonl").symlink_to(data.corpus.resolve())
        report = build(source, out)
        answerer = open_answerer(out)
        results: dict[str, Any] = {}
        for mode in MODES:
            ndcg, r10, r100, latency = [], [], [], []
            tick = progress(len(data.qrels), f"{mode} queries") if progress else None
            for qid, rel in data.qrels.items():
                started = time.perf_counter()
                ranked = rank_documents(answerer, data.queries[qid], mode, 101)
                latency.append((time.perf_counter() - started) * 1000)
                # As BEIR's evaluation does: a document with the query's own id is the query
                # itself (Quora and ArguAna put every query in the corpus), not a result.
                ranked = [d for d in ranked if d != qid][:100]
                ndcg.append(ndcg_at(ranked, rel, 10))
                r10.append(recall_at(ranked, rel, 10))
                r100.append(recall_at(ranked, rel, 100))
                if tick:
                    tick(1)
            results[mode] = {
                "ndcg@10": round(float(np.mean(ndcg)), 4),
                "recall@10": round(float(np.mean(r10)), 4),
                "recall@100": round(float(np.mean(r100)), 4),
                "latency_ms_p50": round(float(np.percentile(latency, 50)), 2),
            }
        answerer.retriever.reader.close()
    return {
        "dataset": str(root),
        "documents": report.documents,
        "passages": report.chunks,
        "skipped": [f"{s.path}: {s.reason}" for s in report.skipped],
        "queries": len(data.qrels),
        "results": results,
    }
