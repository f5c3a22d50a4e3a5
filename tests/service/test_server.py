"""`ragqa serve` starts a real uvicorn server that answers over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

RAGQA = str(Path(sys.executable).with_name("ragqa"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(seed_index: Path) -> Iterator[str]:
    port = free_port()
    env = os.environ | {"RAGQA_INDEX_DIR": str(seed_index), "RAGQA_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [RAGQA, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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
