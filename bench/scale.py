"""`make bench-scale`: the whole query path at 100k, 300k and 1M passages, through the real server.

Each size is a synthetic index written without the model (bench/synthetic.py), served by
`ragqa serve` with its default workers, and measured from outside: `/v1/ask` at concurrency 1
(p50, p99) and 8 (throughput), each query stage's median from the server's own
`ragqa_stage_duration_seconds` histograms, start-up until `/readyz` answers, one reload onto a new
version, resident memory per worker process, and the version's size on disk. The seed index is
measured in the same run, so the ratios compare like with like on a shared machine.

Writes bench/results/scale.json. Needs about 10 GB of free disk and 12 GB of memory at 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import QUESTIONS as SEED_QUESTIONS
from run import RAGQA, ROOT, free_port, pct, process_tree

RESULTS = ROOT / "bench" / "results"
STAGES = ("embed", "dense", "lexical", "fuse", "sentences", "collapse")
SIZES = (100_000, 300_000, 1_000_000)


def start_server(index: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """`ragqa serve` on ``index``; returns it, its URL, and the seconds until /readyz said 200."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"RAGQA_INDEX_DIR": str(index), "RAGQA_LOG_LEVEL": "warning"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [RAGQA, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.terminate()
    raise RuntimeError(f"server on {index} did not become ready")


def stage_histograms(url: str) -> dict[str, list[tuple[float, float]]]:
    """Each stage's cumulative (upper bound, count) buckets, summed over the server's workers."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        if family.name != "ragqa_stage_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                out.setdefault(sample.labels["stage"], []).append((bound, sample.value))
    return {stage: sorted(buckets) for stage, buckets in out.items()}


def median_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float | None:
    """The median of what was observed between two scrapes, interpolated within its bucket."""
    counts = dict(before)
    delta = [(bound, n - counts.get(bound, 0.0)) for bound, n in after]
    total = delta[-1][1] if delta else 0.0
    if total <= 0:
        return None
    low, below = 0.0, 0.0
    for bound, n in delta:
        if n >= total / 2:
            if bound == float("inf"):
                return round(low * 1000, 2)
            share = (total / 2 - below) / max(n - below, 1e-9)
            return round((low + share * (bound - low)) * 1000, 2)
        low, below = bound, n
    return None


def ask_latencies(url: str, questions: list[str], n: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in questions[:10]:  # warm-up: first touches of the memory-mapped files
            client.post("/v1/ask", json={"question": q}).raise_for_status()
        for i in range(n):
            started = time.perf_counter()
            client.post("/v1/ask", json={"question": questions[i % len(questions)]})
            out.append(time.perf_counter() - started)
    return out


def throughput(url: str, questions: Path, concurrency: int, requests: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "load.py"), "--url", url,
            "--concurrency", str(concurrency), "--requests", str(requests), "--seconds", "60",
            "--questions", str(questions),
        ],
        capture_output=True, text=True, check=True, timeout=180,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def reload_seconds(url: str, root: Path) -> float:
    """Seconds one worker takes to load a new version (a hard-linked copy, as fresh as a build)."""
    import httpx

    from indexer.store import MANIFEST, resolve_version, switch_current

    current = resolve_version(root)
    copy = current.with_name(current.name + "-reload")
    subprocess.run(["cp", "-al", str(current), str(copy)], check=True)
    manifest = json.loads((copy / MANIFEST).read_text("utf-8"))
    manifest["build_id"] = copy.name
    (copy / MANIFEST).unlink()  # a hard link to the original's: write a file of its own
    (copy / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    switch_current(root, copy)
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/admin/reload", timeout=120)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    if response.json().get("version") != copy.name:
        raise RuntimeError(f"reload did not switch to {copy.name}: {response.text}")
    return elapsed


def worker_memory(pid: int) -> dict[str, Any]:
    """Resident memory of each worker process: anonymous (its own) and file-backed (shared)."""

    def status(p: int) -> dict[str, float]:
        fields = {}
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) / 1024
        return fields

    workers = process_tree(pid)[1:] or [pid]
    stats = [status(p) for p in workers]
    return {
        "workers": len(workers),
        "rss_mib_per_worker": round(max(s["VmRSS"] for s in stats), 1),
        "anon_mib_per_worker": round(max(s["RssAnon"] for s in stats), 1),
        "file_mib_per_worker": round(max(s["RssFile"] for s in stats), 1),
        "supervisor_rss_mib": round(status(pid)["VmRSS"], 1) if workers != [pid] else None,
    }


def disk_mib(path: Path) -> dict[str, float]:
    """Size of each file (or folder) of a version directory, and the total, in MiB."""
    sizes = {}
    for entry in sorted(path.iterdir()):
        files = [entry] if entry.is_file() else [f for f in entry.rglob("*") if f.is_file()]
        sizes[entry.name] = round(sum(f.stat().st_size for f in files) / 2**20, 1)
    return sizes | {"total": round(sum(sizes.values()), 1)}


def measure(index: Path, questions: list[str], qfile: Path, n: int) -> dict[str, Any]:
    from indexer.store import resolve_version

    server, url, ready = start_server(index)
    try:
        before = stage_histograms(url)
        c1 = ask_latencies(url, questions, n)
        after = stage_histograms(url)
        c8 = throughput(url, qfile, 8, max(240, n))
        memory = worker_memory(server.pid)
        reload = reload_seconds(url, index)
    finally:
        server.terminate()
        server.wait(timeout=60)
    stages = {s: median_ms(before.get(s, []), after.get(s, [])) for s in STAGES}
    sizes = disk_mib(resolve_version(index))
    return {
        "ask_p50_ms": pct(c1, 50),
        "ask_p99_ms": pct(c1, 99),
        "ask_c8_qps": c8["qps"],
        "ask_c8_p50_ms": c8["p50_ms"],
        "ask_c8_errors": c8["errors"],
        "lexical_p50_ms": stages["lexical"],
        "dense_p50_ms": stages["dense"],
        "sentences_p50_ms": stages["sentences"],
        "stage_p50_ms": stages,
        "ready_s": round(ready, 2),
        "reload_s": round(reload, 2),
        "rss_mib_per_worker": memory["rss_mib_per_worker"],
        "memory": memory,
        "disk_mib": sizes["total"],
        "disk_mib_by_file": sizes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="Passage counts.")
    parser.add_argument("--requests", type=int, default=200, help="Timed requests at c1.")
    parser.add_argument("--work", type=Path, help="Scratch directory (default: a temporary one).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from synthetic import questions as make_questions
    from synthetic import write_index

    from indexer.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()  # names the model in the synthetic manifests
    work = args.work or Path(tempfile.mkdtemp(prefix="ragqa-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        seed = work / "seed"
        subprocess.run(
            [RAGQA, "index", "--full", "--source", str(ROOT / "seeds"), "--out", str(seed)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        seed_file = work / "seed-questions.txt"
        seed_file.write_text("\n".join(SEED_QUESTIONS), "utf-8")
        seed_row = {"passages": "seed"} | measure(seed, SEED_QUESTIONS, seed_file, args.requests)
        print(f"seed: {json.dumps(seed_row)}", flush=True)  # noqa: T201 - progress
        for n in (int(s) for s in args.sizes.split(",")):
            index = work / f"index-{n}"
            started = time.perf_counter()
            corpus = write_index(index, n, embedder)
            written = time.perf_counter() - started
            questions = make_questions(corpus, 200)
            del corpus
            qfile = work / f"questions-{n}.txt"
            qfile.write_text("\n".join(questions), "utf-8")
            row = {"passages": n, "write_s": round(written, 1)}
            row |= measure(index, questions, qfile, args.requests)
            rows.append(row)
            print(f"{n}: {json.dumps(row)}", flush=True)  # noqa: T201 - progress
            shutil.rmtree(index, ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seed_ask_p50_ms": seed_row["ask_p50_ms"],
        "seed": seed_row,
        "rows": rows,
        "ratios": {
            str(r["passages"]): round(r["ask_p50_ms"] / seed_row["ask_p50_ms"], 2) for r in rows
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(result, indent=2))
    report(result)
    return 0


def report(r: dict[str, Any]) -> None:
    head = (
        f"{'passages':>10}{'ask p50':>9}{'p99':>8}{'c8 q/s':>8}{'lexical':>9}{'dense':>7}"
        f"{'sentences':>10}{'ready s':>9}{'reload s':>9}{'MiB/worker':>11}{'disk MiB':>10}"
    )
    lines = [head]
    for x in [r["seed"], *r["rows"]]:
        lines.append(
            f"{x['passages']!s:>10}{x['ask_p50_ms']:>9}{x['ask_p99_ms']:>8}{x['ask_c8_qps']:>8}"
            f"{x['lexical_p50_ms']!s:>9}{x['dense_p50_ms']!s:>7}{x['sentences_p50_ms']!s:>10}"
            f"{x['ready_s']:>9}{x['reload_s']:>9}{x['rss_mib_per_worker']:>11}{x['disk_mib']:>10}"
        )
    lines.append("")
    lines += [f"ask p50 at {n} / seed ask p50: {v}" for n, v in r["ratios"].items()]
    print("\n".join(lines))  # noqa: T201 - this is the report


if __name__ == "__main__":
    sys.exit(main())
