"""Load generator for `make bench`: a separate process posting questions at fixed concurrency.

Bounded in count and in time, loopback only. Prints one JSON object: requests, errors, seconds,
throughput, latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import httpx
import numpy as np

QUESTIONS = [
    "Why did Jerry Tworek leave OpenAI?",
    "Who is OpenAI's chief research officer?",
    "What is Meta's new lab called?",
    "How many monthly users did Gemini have in July?",
    "What share of the enterprise market does OpenAI have?",
    "Which models did Tworek help build?",
    "What personal assistant project was shelved?",
    "What is continuous learning?",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="Server base URL on 127.0.0.1.")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100, help="Total requests (upper bound).")
    parser.add_argument("--seconds", type=float, default=30.0, help="Time limit.")
    parser.add_argument("--questions", help="File of questions, one per line (default: built in).")
    args = parser.parse_args()
    questions = QUESTIONS
    if args.questions:
        with open(args.questions, encoding="utf-8") as f:
            questions = [line.strip() for line in f if line.strip()]
    if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("the load generator only targets this machine's loopback address")

    latencies: list[float] = []
    errors = 0
    issued = 0
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def worker() -> None:
        nonlocal errors, issued
        with httpx.Client(base_url=args.url, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    if issued >= args.requests:
                        return
                    n = issued
                    issued += 1
                started = time.perf_counter()
                try:
                    r = client.post("/v1/ask", json={"question": questions[n % len(questions)]})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += not ok

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    json.dump(
        {
            "concurrency": args.concurrency,
            "requests": len(latencies),
            "errors": errors,
            "seconds": round(wall, 3),
            "qps": round(len(latencies) / wall, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
