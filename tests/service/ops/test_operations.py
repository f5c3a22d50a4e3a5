"""Operating the service: reloads while serving, killed builds, limits, metrics, request ids."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from indexer.build import build_index
from indexer.store import resolve_version
from service.api.app import create_app
from service.ops.limits import SharedRateLimiter
from service.ops.logs import JsonFormatter
from service.settings import Settings
from tests.conftest import SEEDS
from tests.support.live import live_server

RAGQA = str(Path(sys.executable).with_name("ragqa"))


def _wait_for_version(url: str, version: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz").json().get("index", {}).get("version") == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"server never switched to {version}")


@pytest.fixture
def index(corpus: Path, tmp_path: Path, embedder) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "index"
    build_index(corpus, out, embedder)
    return out


def test_build_killed_half_way_leaves_current_untouched(
    index: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    before = resolve_version(index)
    big = tmp_path / "big"
    big.mkdir()
    for i in range(300):
        words = " ".join(f"w{(i * 7 + j) % 997}" for j in range(60))
        (big / f"doc{i:03d}.txt").write_text(
            f"Report {i}\n\nCouncil report number {i} covers {words}. It ends here.", "utf-8"
        )
    proc = subprocess.Popen(
        [RAGQA, "index", "--source", str(big), "--out", str(index)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)
    assert proc.poll() is None, "the build finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert resolve_version(index) == before
    with live_server(create_app(Settings(index_dir=index), embedder=embedder)) as url:
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["index"]["version"] == before.name and ready["documents"] == 5
    # The next build clears what the killed one left and succeeds.
    report = build_index(SEEDS, index, embedder)
    assert resolve_version(index).name == report.version
    assert not list((index / "versions").glob(".tmp-*"))


def test_reload_by_watcher_and_endpoint_and_refusal(
    index: Path,
    corpus: Path,
    embedder,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    settings = Settings(index_dir=index, reload_interval=0.1)
    with live_server(create_app(settings, embedder=embedder)) as url:
        first = httpx.get(f"{url}/readyz").json()["index"]["version"]
        (corpus / "005_tides.txt").write_text(
            "Tidal Plant\n\nThe tidal plant opened on Monday.", "utf-8"
        )
        second = build_index(corpus, index, embedder).version
        _wait_for_version(url, second)  # picked up by the watcher, no restart
        r = httpx.post(f"{url}/v1/ask", json={"question": "When did the tidal plant open?"})
        assert r.json()["index"]["version"] == second == r.headers["x-index-version"]
        assert r.json()["passages"][0]["doc_id"] == "005_tides"
        # Explicit reload: nothing new.
        r = httpx.post(f"{url}/v1/admin/reload").json()
        assert r == {"status": "unchanged", "version": second, "previous": second}
        # A broken version is refused; the good one keeps serving.
        broken = index / "versions" / "99990101T000000000000Z-broken"
        shutil.copytree(resolve_version(index), broken)
        (broken / "vectors.faiss").write_bytes(b"not faiss")
        (index / "current").unlink()
        (index / "current").symlink_to(broken.relative_to(index))
        with caplog.at_level(logging.ERROR, logger="ragqa"):
            r = httpx.post(f"{url}/v1/admin/reload")
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
        assert r.json()["error"]["message"].startswith(f"reload refused, still serving {second}")
        assert any("reload refused" in rec.getMessage() for rec in caplog.records)
        assert httpx.get(f"{url}/readyz").json()["index"]["version"] == second
        assert httpx.post(f"{url}/v1/ask", json={"question": "tidal"}).status_code == 200
        metrics = httpx.get(f"{url}/metrics").text
        assert 'ragqa_reloads_total{result="success"} 1.0' in metrics
        # The watcher may try the broken version too before the endpoint does: one or two.
        assert re.search(r'ragqa_reloads_total\{result="failure"\} [12]\.0', metrics)
        assert first != second


def test_no_request_fails_while_versions_switch(index: Path, corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(index_dir=index, reload_interval=0.05, keep_versions=2)
    versions = {resolve_version(index).name}
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()
    questions = [
        "Why did Jerry Tworek leave OpenAI?",
        "What is Meta's new lab called?",
        "Who is OpenAI's chief research officer?",
        "tidal plant",
    ]

    def hammer(worker: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(200):  # bounded in count ...
                if stop.is_set():
                    return
                r = client.post(f"{url}/v1/ask", json={"question": questions[(worker + i) % 4]})
                results.append((r.status_code, r.json().get("index", {}).get("version")))

    with live_server(create_app(settings, embedder=embedder)) as url, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hammer, w) for w in range(8)]
        for n in range(3):
            (corpus / f"extra{n}.txt").write_text(
                f"Extra {n}\n\nThe tidal plant number {n} opened.", "utf-8"
            )
            version = build_index(corpus, index, embedder, keep=2).version
            versions.add(version)
            _wait_for_version(url, version)
        time.sleep(0.5)
        stop.set()  # ... and in time
        for f in futures:
            f.result()
    assert len(results) > 50
    failed = [r for r in results if r[0] != 200]
    assert not failed, failed[:5]
    served = {v for _, v in results}
    assert served <= versions and len(served) >= 2


def test_limits(index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        index_dir=index,
        api_keys="user1,user2",
        admin_keys="boss",  # type: ignore[arg-type]
        rate_limit_per_minute=3,
        max_body_bytes=2048,
        max_concurrent_searches=2,
    )
    app = create_app(settings, embedder=embedder)
    with live_server(app) as url:
        user1 = {"Authorization": "Bearer user1"}
        ask = {"question": "Who is OpenAI's chief research officer?"}
        assert httpx.post(f"{url}/v1/ask", json=ask).status_code == 401
        assert httpx.post(f"{url}/v1/admin/reload", headers=user1).status_code == 401
        assert (
            httpx.post(
                f"{url}/v1/admin/reload", headers={"Authorization": "Bearer boss"}
            ).status_code
            == 200
        )
        # Rate limit: 3 per minute per key, then 429 with Retry-After; other keys are unaffected.
        codes = [httpx.post(f"{url}/v1/ask", json=ask, headers=user1).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = httpx.post(f"{url}/v1/ask", json=ask, headers=user1)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "rate limit of 3 requests per minute" in r.json()["error"]["message"]
        user2 = {"Authorization": "Bearer user2"}
        assert httpx.post(f"{url}/v1/ask", json=ask, headers=user2).status_code == 200
        # Body limit.
        r = httpx.post(f"{url}/v1/ask", json={"question": "x" * 4000}, headers=user2)
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        # Saturation: with every search slot taken, the next search is refused at once.
        app.state.search_slots.in_use = 2
        r = httpx.post(f"{url}/v1/ask", json=ask, headers={"Authorization": "Bearer boss"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "searches already in progress" in r.json()["error"]["message"]
        assert r.json()["error"]["code"] == "busy"
        app.state.search_slots.in_use = 0
        assert httpx.get(f"{url}/healthz").status_code == 200  # probes need no key
        metrics = httpx.get(f"{url}/metrics", headers=user2).text
        assert 'ragqa_rejected_requests_total{reason="rate_limited"} 2.0' in metrics
        assert 'ragqa_rejected_requests_total{reason="saturated"} 1.0' in metrics
        assert 'ragqa_rejected_requests_total{reason="body_too_large"} 1.0' in metrics


def test_metrics_after_traffic_and_request_ids(
    index: Path, embedder, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with live_server(create_app(Settings(index_dir=index), embedder=embedder)) as url:
        with caplog.at_level(logging.INFO, logger="ragqa"):
            r = httpx.post(
                f"{url}/v1/ask", json={"question": "Tworek"}, headers={"X-Request-ID": "abc-123"}
            )
            assert r.headers["x-request-id"] == "abc-123"
            generated = httpx.post(f"{url}/v1/ask", json={"question": ""}).headers["x-request-id"]
            assert len(generated) == 32 and generated != "abc-123"
            httpx.get(f"{url}/v1/documents/nope")
        metrics = httpx.get(f"{url}/metrics").text
    version = r.json()["index"]["version"]
    for expected in (
        'ragqa_requests_total{method="POST",route="/v1/ask",status="200"} 1.0',
        'ragqa_requests_total{method="POST",route="/v1/ask",status="422"} 1.0',
        'ragqa_requests_total{method="GET",route="/v1/documents/{doc_id:path}",status="404"} 1.0',
        'ragqa_request_duration_seconds_count{method="POST",route="/v1/ask"} 2.0',
        f'ragqa_index_info{{built_at="{r.json()["index"]["built_at"]}",version="{version}"}} 1.0',
        "ragqa_index_documents 5.0",
    ):
        assert expected in metrics, expected
    for stage in ("embed", "dense", "lexical", "fuse", "sentences", "collapse"):
        assert f'ragqa_stage_duration_seconds_count{{stage="{stage}"}} 1.0' in metrics, stage
    lines = [
        json.loads(JsonFormatter().format(rec))
        for rec in caplog.records
        if getattr(rec, "event", None) == "request"
    ]
    first = next(line for line in lines if line["request_id"] == "abc-123")
    assert (
        first["path"] == "/v1/ask" and first["status"] == 200 and first["index_version"] == version
    )
    assert first["level"] == "info" and first["ts"].endswith("Z") and first["ms"] > 0


def test_serve_logs_json_lines(index: Path) -> None:
    from tests.support.live import free_port

    port = free_port()
    env = os.environ | {"RAGQA_INDEX_DIR": str(index)}
    proc = subprocess.Popen(
        [RAGQA, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-1"})
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert entries and len(entries) == len([ln for ln in err.splitlines() if ln.strip()])
    assert any(e.get("request_id") == "probe-1" and e["path"] == "/healthz" for e in entries)


def test_a_shared_rate_limit_is_one_bucket_across_processes(tmp_path: Path) -> None:
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "buckets.sqlite"
    with ProcessPoolExecutor(2) as pool:  # two processes, as two server workers
        waits = list(pool.map(_take_shared, [path] * 6))
    assert sorted(w == 0 for w in waits) == [False] * 2 + [True] * 4
    assert SharedRateLimiter(path, 4).acquire("other-key") == 0  # buckets are per key
    assert 0 < SharedRateLimiter(path, 4).acquire("key") <= 15


def _take_shared(path: Path) -> float:
    return SharedRateLimiter(path, 4).acquire("key")
