"""`ragqa serve` starts a real uvicorn server that answers over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

RAGQA = str(Path(sys.executable).with_name("ragqa"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    index: Path, *args: str, stderr: int = subprocess.STDOUT, **env: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`ragqa serve` on ``index``, ready; its output on its stdout pipe unless ``stderr`` says."""
    port = free_port()
    env = os.environ | {"RAGQA_INDEX_DIR": str(index), "RAGQA_LOG_LEVEL": "warning"} | env
    proc = subprocess.Popen(
        [RAGQA, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not become ready in 90 s")
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def server(seed_index: Path) -> Iterator[str]:
    with serving(seed_index) as (base, _):
        yield base


def test_real_server_answers_over_http(server: str) -> None:
    r = httpx.post(
        f"{server}/v1/ask",
        content=b'{"question":"Why did Jerry Tworek leave OpenAI?"}',
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    passages = r.json()["passages"]
    assert len(passages) == 5 and all(p["source"] for p in passages)
    doc = httpx.get(f"{server}/v1/documents/{passages[0]['doc_id']}", timeout=10).json()
    assert doc["text"][passages[0]["start"] : passages[0]["end"]] == passages[0]["text"]
    bad = httpx.post(f"{server}/v1/ask", json={"question": "", "top_k": 0}, timeout=10)
    assert bad.status_code == 422 and set(bad.json()["error"]) == {"code", "message"}
    assert httpx.get(f"{server}/healthz", timeout=10).json() == {"status": "ok"}


def test_serve_without_index_exits_with_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [RAGQA, "serve", "--index", str(tmp_path / "none"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("Error: no index at")
    assert "Traceback" not in r.stderr


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [c for child in map(int, children) for c in [child, *_descendants(child)]]


def test_worker_processes_share_limits_and_metrics_without_pytorch(seed_index: Path) -> None:
    limit = 8
    with serving(seed_index, "--workers", "2", RAGQA_RATE_LIMIT_PER_MINUTE=str(limit)) as (
        base,
        proc,
    ):
        workers = [p for p in _descendants(proc.pid) if "spawn_main" in _cmdline(p)]
        assert len(workers) == 2
        # Each request on a new connection: the two workers take turns accepting them.
        codes = [
            httpx.post(
                f"{base}/v1/ask", json={"question": "Who leads OpenAI research?"}
            ).status_code
            for _ in range(3 * limit)
        ]
        # One bucket for both workers (a token refills every 7.5 s: at most one more).
        assert limit <= codes.count(200) <= limit + 1 and codes.count(429) >= 2 * limit - 1
        assert set(codes) == {200, 429}
        metrics = httpx.get(f"{base}/metrics").text
        served = [ln for ln in metrics.splitlines() if ln.startswith("ragqa_index_info{")]
        assert len(served) == 2 and all(any(f'pid="{p}"' in ln for ln in served) for p in workers)
        ok = f'ragqa_requests_total{{method="POST",route="/v1/ask",status="200"}} {codes.count(200)}.0'
        assert ok in metrics
        # The ONNX encoder loads without PyTorch: no worker maps libtorch.
        for pid in workers:
            assert "libtorch" not in Path(f"/proc/{pid}/maps").read_text()


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def test_several_workers_need_the_index_watcher(seed_index: Path) -> None:
    r = subprocess.run(
        [RAGQA, "serve", "--index", str(seed_index), "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"RAGQA_RELOAD_INTERVAL": "0"},
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("Error: RAGQA_RELOAD_INTERVAL=0 turns off")


def test_concurrent_distinct_questions_after_start_up_get_no_server_error(
    seed_index: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """Eight clients at once on a freshly started server, each question with words never seen
    before, so no per-word cache hides state shared by the threads that answer them. The
    interpreter switches threads far more often than by default, so that a race shows at once."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from service.api.app import create_app
    from service.settings import Settings
    from tests.support.live import live_server

    rng = random.Random(15)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def question(i: int) -> str:
        made_up = " ".join(
            "".join(rng.choices(letters, k=rng.randint(5, 12))) + rng.choice(["ing", "ations"])
            for _ in range(8)
        )
        return f"Why did {made_up} leave OpenAI in {2000 + i % 30}?"

    questions = [question(i) for i in range(400)]
    interval = sys.getswitchinterval()
    app = create_app(Settings(index_dir=seed_index), embedder=embedder)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:

        def ask(q: str) -> int:
            return client.post("/v1/ask", json={"question": q}).status_code

        sys.setswitchinterval(1e-5)
        try:
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(ask, questions))
        finally:
            sys.setswitchinterval(interval)
    assert [s for s in statuses if s >= 500] == []
    assert statuses.count(200) == len(questions)


def _request_lines(stderr: int, read: Callable[[], str], index: Path) -> list[str]:
    """Serve with ``stderr``, ask once, stop; the log lines naming the request."""
    with serving(index, stderr=stderr, RAGQA_LOG_LEVEL="info", RAGQA_WORKERS="1") as (base, _):
        headers = {"X-Request-ID": "tty-check"}
        httpx.post(f"{base}/v1/ask", json={"question": "Who?"}, headers=headers, timeout=30)
        time.sleep(0.5)
    return [line for line in read().splitlines() if "tty-check" in line]


def test_logs_are_readable_on_a_terminal_and_json_in_a_pipe(
    seed_index: Path, tmp_path: Path
) -> None:
    import json
    import pty

    main, terminal = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> str:
        os.set_blocking(main, False)
        while True:
            try:
                chunk = os.read(main, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    try:
        text = _request_lines(terminal, drain, seed_index)
    finally:
        os.close(terminal)
        os.close(main)
    assert text and "POST /v1/ask 200" in text[0] and "request_id=tty-check" in text[0]
    assert not text[0].lstrip().startswith("{")
    # A file, as a log collector reads: not a terminal, so JSON lines.
    log = tmp_path / "serve.log"
    with log.open("w") as f:
        lines = _request_lines(f.fileno(), log.read_text, seed_index)
    assert json.loads(lines[0])["request_id"] == "tty-check"
