"""Several processes over one index root: a rebuild and servers starting at once, and two
replicas following one root while it is rebuilt under load. Real `ragqa` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from indexer.build import build_index
from indexer.store import resolve_version
from tests.support.live import free_port

RAGQA = str(Path(sys.executable).with_name("ragqa"))


@pytest.fixture
def root(corpus: Path, tmp_path: Path, embedder) -> Path:  # type: ignore[no-untyped-def]
    """An index root with no ONNX export (as one copied without it, or built by the library)."""
    out = tmp_path / "index"
    build_index(corpus, out, embedder)
    assert not (out / "onnx").exists()
    return out


@contextmanager
def replica(root: Path, log: Path, **env: str) -> Iterator[str]:
    """`ragqa serve` in its own process over ``root``; its URL once the process is started."""
    port = free_port()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [RAGQA, "serve", "--port", str(port)],
            env=os.environ | {"RAGQA_INDEX_DIR": str(root), "RAGQA_LOG_FORMAT": "text"} | env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_ready(url: str, log: Path, timeout: float = 180) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/readyz")
            if r.status_code == 200:
                return r.json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready:\n{log.read_text()[-3000:]}")


def test_a_rebuild_and_two_servers_starting_at_once_all_succeed(
    root: Path, corpus: Path, tmp_path: Path
) -> None:
    build = subprocess.Popen(
        [RAGQA, "index", "--source", str(corpus), "--out", str(root), "--full"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with ExitStack() as stack:
        urls = [stack.enter_context(replica(root, log)) for log in logs]
        ready = [wait_ready(url, log) for url, log in zip(urls, logs, strict=True)]
        out, _ = build.communicate(timeout=300)
        assert build.returncode == 0, out
        for url, r in zip(urls, ready, strict=True):
            # No fallback to PyTorch: each server loaded an export, none read a partial file.
            assert r["query_encoder"] == "onnx-int8", [log.read_text()[-3000:] for log in logs]
            ask = httpx.post(f"{url}/v1/ask", json={"question": "Who leads the city council?"})
            assert ask.status_code == 200
    for log in logs:
        assert "not used" not in log.read_text(), log.read_text()[-3000:]
    exports = sorted(p.name for p in (root / "onnx").iterdir())
    assert any("-int8" in name and name.endswith(".onnx") for name in exports), exports
    assert not [name for name in exports if name.startswith(".tmp-")], exports


def test_two_replicas_rebuilt_under_load_fail_nothing_and_both_switch(
    root: Path, corpus: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    interval = 0.5
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    results: list[tuple[int, int, str | None]] = []
    stop = threading.Event()

    def load(url: str, replica_no: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(300):  # bounded in count, and stopped below
                if stop.is_set():
                    return
                r = client.post(f"{url}/v1/ask", json={"question": f"tidal plant {i % 7}"})
                version = r.json().get("index", {}).get("version") if r.status_code == 200 else None
                results.append((replica_no, r.status_code, version))

    with ExitStack() as stack:
        env = {"RAGQA_RELOAD_INTERVAL": str(interval)}
        urls = [stack.enter_context(replica(root, log, **env)) for log in logs]
        for url, log in zip(urls, logs, strict=True):
            wait_ready(url, log)
        threads = [
            threading.Thread(target=load, args=(url, n)) for n, url in enumerate(urls) for _ in "ab"
        ]
        for t in threads:
            t.start()
        versions = [resolve_version(root).name]
        for n in range(2):
            (corpus / f"tides{n}.txt").write_text(
                f"Tidal Plant {n}\n\nThe tidal plant number {n} opened on Monday.", "utf-8"
            )
            versions.append(build_index(corpus, root, embedder).version)
            switched = time.monotonic()
            for url in urls:
                while httpx.get(f"{url}/readyz").json()["index"]["version"] != versions[-1]:
                    # Each replica follows index/current within its reload interval (and the
                    # time to open the new version).
                    assert time.monotonic() - switched < interval + 10, f"{url} did not switch"
                    time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
    failed = [r for r in results if r[1] != 200]
    assert not failed, failed[:5]
    assert {r[0] for r in results} == {0, 1} and len(results) > 40
    served = {r[2] for r in results}
    assert served <= set(versions) and versions[-1] in served
