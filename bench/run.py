"""`make bench`: query latency, throughput, build speed and memory, measured in one run.

Writes bench/results/latest.json and bench/results/latest.png, and prints a table with the ratios
that matter last. Every server and load generator runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from report import chart, report  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RAGQA = str(Path(sys.executable).with_name("ragqa"))
QUESTION = "Who is OpenAI's chief research officer?"
# Real news articles and reader-written questions (../shared/eval/news-dev), when beside the
# project: the reranker's cost is measured there, on distinct questions.
NEWS = ROOT.parent / "shared" / "eval" / "news-dev"
# Blocks per setting when settings take turns (taking_turns).
ROUNDS = 4


def pct(values: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000, p)), 2)


def encode_question(embedder: Any) -> Callable[[], Any]:
    """The reference: sentence-transformers' encode of one question."""
    return lambda: embedder._model.encode([QUESTION])


def timings(fn: Any, n: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def synthetic_corpus(target: Path, documents: int, seed: int = 0) -> None:
    """News-like documents made by recombining the seed articles' sentences."""
    from indexer.chunk import Chunker
    from indexer.clean import clean_document
    from indexer.embed import HFTokenizer, bundled_model_path
    from indexer.load import load_corpus

    chunker = Chunker(HFTokenizer(bundled_model_path()))
    sentences: list[str] = []
    for raw in load_corpus(ROOT / "seeds").documents:
        doc = clean_document(raw)
        if doc:
            sentences += [doc.text[s:e] for s, e in chunker.sentences(doc.text) if e - s > 40]
    rng = random.Random(seed)
    target.mkdir(parents=True)
    for i in range(documents):
        body = " ".join(rng.sample(sentences, 12))
        (target / f"syn{i:05d}.txt").write_text(f"Synthetic report {i}\n\n{body}", "utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the server's worker processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def tree_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Summed over the process tree: each process's peak (or current) resident memory."""
    return round(sum(rss_mib(p, field) for p in process_tree(pid)), 1)


def serve_and_load(
    index: Path,
    n_c1: int,
    encoder: str = "onnx-int8",
    load: bool = True,
    env_extra: dict[str, str] | None = None,
    questions: list[str] | None = None,
) -> dict[str, Any]:
    """HTTP latency at concurrency 1, then throughput at 1/4/8/16 from a second process; over
    ``questions`` in turn when given (else one question)."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "RAGQA_INDEX_DIR": str(index),
        "RAGQA_LOG_LEVEL": "warning",
        "RAGQA_QUERY_ENCODER": encoder,
        **(env_extra or {}),
    }
    asked = questions or [QUESTION]
    question_file = index.parent / f"questions-{port}.txt"
    question_file.write_text("\n".join(asked) + "\n", "utf-8")
    server = subprocess.Popen(
        [RAGQA, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        turn = iter(range(10**9))
        with httpx.Client(base_url=url, timeout=60) as client:
            http = timings(
                lambda: client.post("/v1/ask", json={"question": asked[next(turn) % len(asked)]}),
                n_c1,
            )
        results = {}
        for c in (1, 4, 8, 16) if load else ():
            out = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "bench" / "load.py"),
                    "--url",
                    url,
                    "--concurrency",
                    str(c),
                    "--requests",
                    str(max(300, 60 * c)),
                    "--seconds",
                    "30",
                    *(["--questions", str(question_file)] if questions else []),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            results[f"c{c}"] = json.loads(out.stdout)
        return {
            "http_ms": {"p50": pct(http, 50), "p95": pct(http, 95), "p99": pct(http, 99)},
            "load": results,
            "server_processes": len(process_tree(server.pid)),
            "server_peak_rss_mib": tree_rss_mib(server.pid),
            "server_rss_after_load_mib": tree_rss_mib(server.pid, "VmRSS"),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def asking(answerer: Any, questions: list[str]) -> Callable[[], Any]:
    """In-process /v1/ask of ``questions`` in turn, one per call (distinct questions, as users
    ask them)."""
    from service.schemas import AskRequest

    turn = itertools.cycle([AskRequest(question=q) for q in questions])
    return lambda: answerer.ask(next(turn))


def taking_turns(work: dict[str, Callable[[], Any]], n: int, rounds: int = ROUNDS) -> dict:
    """``n`` timings of each of ``work``'s callables, which take turns in ``rounds`` blocks: a
    shared machine that slows down for a while then slows all of them alike, so their ratios hold
    where their absolute times drift (each block starts with its own warm-up)."""
    taken: dict[str, list[float]] = {label: [] for label in work}
    block = max(1, n // rounds)
    for _ in range(rounds):
        for label, fn in work.items():
            taken[label] += timings(fn, block)
    return taken


def bench_index(
    name: str,
    source: Path,
    work: Path,
    embedder: Any,
    n: int,
    questions: list[str] | None = None,
    off_server: bool = False,
) -> dict[str, Any]:
    """Build (with entities, as `ragqa index` does), then answer in-process with the reranker
    on and off, then serve."""
    from indexer.build import build_index
    from indexer.entities import EntityRecognizer, bundled_ner_path
    from service.api.app import build_answerer, load_reranker_model
    from service.settings import Settings

    out = work / f"index-{name}"
    # Peak memory of the indexer, as a process of its own (this process holds other things).
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [RAGQA, "index", "--full", "--source", str(source), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=3600,
    )
    cli_build_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    entities = EntityRecognizer(bundled_ner_path())
    started = time.perf_counter()
    report = build_index(source, out, embedder, full=True, entities=entities)
    build_s = time.perf_counter() - started
    asked = questions or [QUESTION, "What is continuous learning?"]
    cross = load_reranker_model(Settings())
    on = build_answerer(Settings(index_dir=out), embedder, cross_encoder=cross)
    off = build_answerer(Settings(index_dir=out, reranker=False), embedder)
    # The reference encode takes turns with the two settings: the ratios of this index are to
    # the encode measured in the same minutes.
    taken = taking_turns(
        {"encode": encode_question(embedder), "on": asking(on, asked), "off": asking(off, asked)},
        n,
    )
    inproc, inproc_off = taken["on"], taken["off"]
    result = {
        "documents": report.documents,
        "passages": report.chunks,
        "sentences": report.sentences,
        "build_seconds": round(build_s, 2),
        "build_passages_per_s": round(report.chunks / build_s, 1),
        "cli_build_seconds_with_entities": round(cli_build_s, 1),
        "indexer_peak_rss_mib": round(max(after, before) / 1024, 1) if after > before else None,
        "reference_encode_ms_p50": pct(taken["encode"], 50),
        "inprocess_ms": {"p50": pct(inproc, 50), "p95": pct(inproc, 95), "p99": pct(inproc, 99)},
        "inprocess_ms_reranker_off": {
            "p50": pct(inproc_off, 50),
            "p95": pct(inproc_off, 95),
            "p99": pct(inproc_off, 99),
        },
        **serve_and_load(out, n, questions=questions),
        "http_ms_torch_encoder": serve_and_load(
            out, n, encoder="torch", load=False, questions=questions
        )["http_ms"],
    }
    if off_server:
        served_off = serve_and_load(
            out, n, env_extra={"RAGQA_RERANKER": "off"}, questions=questions
        )
        result["http_ms_reranker_off"] = served_off["http_ms"]
        result["load_reranker_off"] = served_off["load"]
    on.retriever.reader.close()
    off.retriever.reader.close()
    return result


def bench_reranker_threads(index: Path, embedder: Any, questions: list[str], n: int) -> dict:
    """In-process /v1/ask with the cross-encoder on 1 or 2 threads, its threads waiting for work
    20 µs (the default), not at all, or as long as ONNX Runtime likes; the settings and the
    reference encode take turns."""
    from service.api.app import build_answerer
    from service.settings import Settings

    answerers = {}
    for threads, spin, spin_us, label in [
        (1, False, 20, "spin-20us"),
        (2, False, 20, "spin-20us"),
        (2, False, 0, "spin-off"),
        (2, True, 0, "spin-on"),
    ]:
        settings = Settings(
            index_dir=index, reranker_threads=threads, reranker_spin=spin, reranker_spin_us=spin_us
        )
        answerers[f"threads{threads}-{label}"] = build_answerer(settings, embedder)
    work = {label: asking(a, questions) for label, a in answerers.items()}
    taken = taking_turns({"encode": encode_question(embedder), **work}, n)
    encode = pct(taken.pop("encode"), 50)
    out: dict[str, Any] = {"reference_encode_ms_p50": encode}
    for label, times in taken.items():
        p50 = pct(times, 50)
        out[label] = {"p50": p50, "p95": pct(times, 95), "over_encode_p50": round(p50 / encode, 2)}
        answerers[label].retriever.reader.close()
    return out


def bench_million(n: int, work: Path, queries: int = 200) -> dict[str, Any]:
    """1M clustered unit vectors in IVF-SQ8 (what auto picks at this size) against exact search."""
    import sqlite3

    import faiss

    from indexer.store import choose_index_type, make_vector_index

    dim, rng = 384, np.random.default_rng(0)
    centers = rng.standard_normal((n // 100, dim)).astype(np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        x[i : i + m] = centers[rng.integers(0, len(centers), m)]
        x[i : i + m] += 0.5 * rng.standard_normal((m, dim)).astype(np.float32)
    faiss.normalize_L2(x)
    q = x[rng.integers(0, n, queries)] + 0.05 * rng.standard_normal((queries, dim)).astype(
        np.float32
    )
    faiss.normalize_L2(q)
    kind = choose_index_type(n)
    started = time.perf_counter()
    index = make_vector_index(x, kind)
    build_s = time.perf_counter() - started
    path = work / "million.faiss"
    faiss.write_index(index, str(path))
    del index
    exact = faiss.IndexFlatIP(dim)
    exact.add(x)
    _, truth = exact.search(q, 10)
    del exact, x
    loaded = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    if isinstance(loaded, faiss.IndexIVF):
        loaded.nprobe = 32
    found, lat = [], []
    for i in range(queries):
        started = time.perf_counter()
        _, ids = loaded.search(q[i : i + 1], 10)
        lat.append(time.perf_counter() - started)
        found.append(len(set(ids[0]) & set(truth[i])) / 10)
    # Metadata rows stored the way real ones are, and the lookup a query does.
    db = sqlite3.connect(work / "million.sqlite")
    db.execute(
        'CREATE TABLE chunks (id INTEGER PRIMARY KEY, chunk_id TEXT, doc_id TEXT, start INT, "end" INT, text TEXT)'
    )
    db.executemany(
        "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
        ((i, f"d{i // 10}#{i % 10}", f"d{i // 10}", 0, 500, "x" * 500) for i in range(n)),
    )
    db.commit()
    ids = [int(i) for i in rng.integers(0, n, 10)]
    rows = timings(
        lambda: db.execute(
            f"SELECT * FROM chunks WHERE id IN ({','.join('?' * 10)})", ids
        ).fetchall(),
        queries,
    )
    return {
        "passages": n,
        "index_type": kind,
        "nprobe": 32,
        "build_seconds": round(build_s, 1),
        "recall_at_10": round(float(np.mean(found)), 4),
        "search_ms": {"p50": pct(lat, 50), "p95": pct(lat, 95)},
        "metadata_lookup_ms_p50": pct(rows, 50),
        "vector_index_mib": round(path.stat().st_size / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per latency.")
    parser.add_argument("--synthetic-docs", type=int, default=400, help="Synthetic corpus size.")
    parser.add_argument("--million", type=int, default=1_000_000, help="Synthetic vector count.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from indexer.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    work = Path(tempfile.mkdtemp(prefix="ragqa-bench-"))
    try:
        model = embedder._model
        reference = timings(encode_question(embedder), args.requests)
        synthetic = work / "synthetic"
        synthetic_corpus(synthetic, args.synthetic_docs)
        indexes = {
            "seed": bench_index(
                "seed", ROOT / "seeds", work, embedder, args.requests, off_server=True
            ),
            "synthetic": bench_index("synthetic", synthetic, work, embedder, args.requests),
        }
        news_questions = []
        if NEWS.is_dir():
            news_questions = [
                json.loads(line)["question"]
                for line in (NEWS / "questions.jsonl").read_text("utf-8").splitlines()
                if line.strip()
            ]
            indexes["news"] = bench_index(
                "news", NEWS / "corpus", work, embedder, args.requests, news_questions, True
            )
        # Measured again after the servers: a shared machine's speed drifts within a run, and the
        # ratios use the faster of the two (the stricter bar).
        references = [
            pct(reference, 50),
            pct(timings(encode_question(embedder), args.requests), 50),
        ]
        from indexer.build import embedding_input
        from indexer.reader import IndexReader

        reader = IndexReader(work / "index-synthetic")
        rows = reader.chunks(range(reader.vectors.ntotal)).values()
        texts = [embedding_input(r.title, r.text) for r in rows]
        started = time.perf_counter()
        model.encode(texts, batch_size=64)
        raw = len(texts) / (time.perf_counter() - started)
        # The same passages in the arithmetic the indexer chose (bfloat16 on a CPU with it):
        # the build embeds passages and their sentences, so it runs at about half this.
        started = time.perf_counter()
        embedder.encode_corpus(texts)
        raw_build = len(texts) / (time.perf_counter() - started)
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "reference_encode_ms_p50": min(references),
            "reference_encode_ms_p50_start_end": references,
            "raw_encode_passages_per_s": round(raw, 1),
            "build_precision": embedder.corpus_precision,
            "raw_encode_passages_per_s_build_precision": round(raw_build, 1),
            "indexes": indexes,
            "million": bench_million(args.million, work),
        }
        if news_questions:
            result["reranker_threads"] = bench_reranker_threads(
                work / "index-news", embedder, news_questions, args.requests
            )
        seed = indexes["seed"]
        result["ratios"] = {
            "http_p50_over_encode_p50": round(
                seed["http_ms"]["p50"] / result["reference_encode_ms_p50"], 2
            ),
            "http_p50_torch_encoder_over_encode_p50": round(
                seed["http_ms_torch_encoder"]["p50"] / result["reference_encode_ms_p50"], 2
            ),
            "c8_qps_over_c1_qps": round(seed["load"]["c8"]["qps"] / seed["load"]["c1"]["qps"], 2),
            "build_over_raw_encode": round(indexes["synthetic"]["build_passages_per_s"] / raw, 2),
        }
        # Each index's in-process ratios are to the encode that took turns with its settings.
        for name, x in indexes.items():
            encode = x["reference_encode_ms_p50"]
            result["ratios"][f"inprocess_p50_over_encode_p50_{name}"] = round(
                x["inprocess_ms"]["p50"] / encode, 2
            )
            result["ratios"][f"inprocess_p50_over_encode_p50_{name}_reranker_off"] = round(
                x["inprocess_ms_reranker_off"]["p50"] / encode, 2
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2))
    chart(result, RESULTS / "latest.png")
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
