"""`make bench-ray`: build throughput of the local engine and of Ray with one and two embedding
workers on a synthetic corpus, Ray's fixed start-up cost, the driver's single-writer steps, and
peak memory of the driver and of the Ray workers. Writes docs/bench-ray.json.

    python bench/ray_build.py [--passages 20000] [--out docs/bench-ray.json]

The corpus: PASSAGES one-paragraph articles (a headline and two sentences), so each is one
passage and two sentences: 20,000 passages are 60,000 texts embedded, short ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = (
    "council harbour budget river school station market bridge library festival housing "
    "transport energy museum hospital court airport stadium factory garden"
).split()


def write_corpus(folder: Path, n: int) -> None:
    for i in range(n):
        a, b, c = (WORDS[(i * k) % len(WORDS)] for k in (3, 7, 11))
        (folder / f"a{i:06d}.txt").write_text(
            f"The {a} report {i}\n\nThe {a} committee met on day {i % 365} to discuss the {b} "
            f"plan number {i}. Officials said the {c} work would start within {i % 12 + 1} months.",
            "utf-8",
        )


class PeakRss:
    """Samples the resident memory of this process and of Ray's processes (``ray::`` titles)."""

    def __init__(self) -> None:
        self.driver = 0
        self.workers: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.2):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                    rss = next(
                        int(line.split()[1]) * 1024
                        for line in (proc / "status").read_text().splitlines()
                        if line.startswith("VmRSS:")
                    )
                except (OSError, StopIteration, IndexError):
                    continue
                if int(proc.name) == me:
                    self.driver = max(self.driver, rss)
                elif title.startswith("ray::"):
                    if "EmbedBatch" in title:
                        kind = "embedding actor"
                    elif "RecogniseBatch" in title:
                        kind = "entity actor"
                    elif "_read_and_prepare" in title:
                        kind = "read task worker"
                    else:  # Ray's own actors and idle workers
                        kind = "other Ray worker (largest)"
                    self.workers[kind] = max(self.workers.get(kind, 0), rss)


def timed_build(
    source: Path, out: Path, embedder: Any, engine: Any, entities: Any
) -> dict[str, Any]:
    """One full build, with the time of each driver step."""
    import indexer.build as build
    import indexer.store as store

    steps: dict[str, float] = {}

    def wrap(module: Any, name: str, label: str) -> Any:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                steps[label] = steps.get(label, 0.0) + time.perf_counter() - start

        setattr(module, name, timed)
        return original

    originals = [
        (engine, "prepare", wrap(engine, "prepare", "read, clean, chunk")),
        (engine, "encode", wrap(engine, "encode", "embed")),
        (engine, "recognise", wrap(engine, "recognise", "entities")),
        (store, "make_vector_index", wrap(store, "make_vector_index", "FAISS index")),
        (store, "write_lexical", wrap(store, "write_lexical", "Tantivy (BM25)")),
        (store, "_write_database", wrap(store, "_write_database", "SQLite")),
        (build, "write_version", wrap(build, "write_version", "write version (all)")),
    ]
    start = time.perf_counter()
    try:
        report = build.build_index(
            source, out, embedder, full=True, engine=engine, entities=entities
        )
    finally:
        for owner, name, original in originals:
            if owner is engine:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
    total = time.perf_counter() - start
    texts = report.chunks + report.sentences
    return {
        "seconds": round(total, 1),
        "passages": report.chunks,
        "texts_embedded": texts,
        "texts_per_s": round(texts / total, 1),
        "passages_per_s": round(report.chunks / total, 1),
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
    }


def report(name: str, run: dict[str, Any]) -> None:
    sys.stderr.write(f"{name}: {json.dumps(run)}\n")
    sys.stderr.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-ray.json")
    args = ap.parse_args()

    from indexer.embed import SentenceTransformerEmbedder
    from indexer.engines import LocalEngine, RayEngine, RayOptions
    from indexer.entities import EntityRecognizer, bundled_ner_path

    embedder = SentenceTransformerEmbedder()
    # As `ragqa index` builds by default: with each sentence's named entities.
    entities = EntityRecognizer(bundled_ner_path())
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "corpus": {"passages": args.passages, "kind": "one-paragraph synthetic articles"},
        "command": "make bench-ray",
    }
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "corpus"
        source.mkdir()
        write_corpus(source, args.passages)
        with PeakRss() as rss:
            results["local"] = timed_build(
                source, Path(tmp) / "local", embedder, LocalEngine(), entities
            )
        results["local"]["peak_rss_mib"] = {"driver": rss.driver >> 20}
        report("local", results["local"])
        for workers in (1, 2):
            with PeakRss() as rss:
                start = time.perf_counter()
                engine = RayEngine(RayOptions(workers=workers, batch_size=512))
                with engine:
                    started = time.perf_counter() - start
                    run = timed_build(
                        source, Path(tmp) / f"ray{workers}", embedder, engine, entities
                    )
            run["ray_start_s"] = round(started, 1)
            run["peak_rss_mib"] = {"driver": rss.driver >> 20} | {
                k: v >> 20 for k, v in sorted(rss.workers.items())
            }
            results[f"ray_{workers}_workers"] = run
            report(f"ray, {workers} workers", run)
    results["when"] = time.strftime("%Y-%m-%d")
    args.out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    sys.stderr.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
