"""The optional LLM writer against a real model server: llama.cpp (xllamacpp) with SmolLM2-135M.

The model's answers are poor (135M parameters); these tests check the path: what it writes reaches
the client, its [n] markers become citations of the passages it was sent, an invented marker is
dropped, and a server that dies mid-answer or is too slow ends in the extractive answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from service.api.app import create_app
from service.chat.generator import Generator, MarkerRewriter
from service.chat.schemas import ChatRequest
from service.schemas import Passage
from service.settings import Settings
from tests.support.chat import complete
from tests.support.live import live_server
from tests.support.llm import LlamaServer, llama_server

OFFICER = "Who is OpenAI's chief research officer?"
# Asks the model to copy markers: [2] is a real source, [7] is not (five passages are sent).
COPY = "Repeat exactly this sentence and nothing else: Mark Chen [2] left in January [7]."


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaServer]:
    with llama_server() as server:
        yield server


def ragqa_settings(index: Path, llama: LlamaServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "index_dir": index,
        "llm_base_url": llama.url,
        "llm_model": "smollm2",
        "llm_timeout": 60.0,
        "llm_total_timeout": 120.0,
        # The path is under test, not the ranking: with the reranking stage off, the passages the
        # model is sent (and so its greedy words) do not move with each refit of the stage.
        "reranker": False,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="module")
def ragqa(llama: LlamaServer, seed_index: Path, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app = create_app(ragqa_settings(seed_index, llama), embedder=embedder)
    with live_server(app) as url:
        yield url


def client(base: str) -> OpenAI:
    return OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=300)


def context(base: str, query: str) -> list[Passage]:
    """The passages a chat turn on ``query`` is answered from (the same retrieval, over HTTP)."""
    r = httpx.post(f"{base}/v1/ask", json={"question": query, "top_k": 5}, timeout=120)
    return [Passage(**p) for p in r.json()["passages"]]


def model_reply(llama: LlamaServer, question: str, passages: list[Passage]) -> str:
    """What the model itself answers to the messages ragqa sends it (greedy: reproducible)."""
    request = ChatRequest(model="ragqa", messages=[{"role": "user", "content": question}])  # type: ignore[list-item]
    messages = Generator(None, llama.url, "smollm2").messages(request, passages)  # type: ignore[arg-type]
    direct = OpenAI(base_url=llama.url, api_key="unused", max_retries=0, timeout=300)
    r = direct.chat.completions.create(model="smollm2", messages=messages, temperature=0)  # type: ignore[arg-type]
    return r.choices[0].message.content or ""


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("question", [OFFICER, COPY])
def test_the_answer_is_the_models_with_its_markers_as_citations(
    ragqa: str, llama: LlamaServer, question: str, stream: bool
) -> None:
    text, extra = complete(client(ragqa), [{"role": "user", "content": question}], stream)
    assert extra["ragqa"]["engine"] == "generator", extra["ragqa"]
    passages = context(ragqa, extra["ragqa"]["query"])
    raw = model_reply(llama, question, passages)
    rewriter = MarkerRewriter(len(passages))
    expected = (rewriter.feed(raw) + rewriter.flush()).strip()
    body, _, sources = text.partition("\n\nSources:\n")
    assert body == expected and body  # the model's words, markers renumbered
    # Citations: the passages the model cited, in order of first citation (all when it cited none).
    cited = [passages[n - 1] for n in rewriter.order or range(1, len(passages) + 1)]
    citations = extra["citations"]
    assert [(c["doc_id"], c["start"], c["end"]) for c in citations] == [
        (p.doc_id, p.start, p.end) for p in cited
    ]
    assert sources.count("\n") == len(citations) - 1
    for c in citations:  # each one slices back out of its document
        doc = httpx.get(f"{ragqa}/v1/documents/{c['doc_id']}", timeout=30).json()
        assert doc["text"][c["start"] : c["end"]] == c["text"]
    if question == COPY:  # the model wrote a real and an invented marker
        assert "[2]" in raw and "[7]" in raw, raw
        assert rewriter.order == [2] and "[1]" in body and "[7]" not in body


@pytest.fixture
def doomed(seed_index: Path, embedder) -> Iterator[tuple[LlamaServer, str]]:  # type: ignore[no-untyped-def]
    """ragqa on a llama.cpp server of its own, for a test to kill: (that server, ragqa's URL)."""
    with llama_server() as server:
        app = create_app(ragqa_settings(seed_index, server), embedder=embedder)
        with live_server(app) as base:
            yield server, base


def test_a_server_killed_mid_answer_gives_the_extractive_answer(
    doomed: tuple[LlamaServer, str],
) -> None:
    """Not streamed: nothing has reached the client, so the reply is the extractive answer."""
    server, base = doomed
    killer = threading.Thread(target=server.kill_once_generating)
    killer.start()
    text, extra = complete(client(base), [{"role": "user", "content": OFFICER}], False)
    killer.join()
    assert extra["ragqa"]["engine"] == "extractive"
    assert extra["ragqa"]["fallback"].startswith("upstream connection failed"), extra["ragqa"]
    assert text.startswith("OpenAI’s chief research officer Mark Chen") and extra["citations"]


def test_a_server_killed_mid_stream_ends_with_the_extractive_answer(
    doomed: tuple[LlamaServer, str],
) -> None:
    server, base = doomed
    stream = client(base).chat.completions.create(
        model="ragqa", messages=[{"role": "user", "content": OFFICER}], stream=True
    )
    pieces, last = [], None
    for chunk in stream:
        content = chunk.choices[0].delta.content if chunk.choices else None
        if content and server.process.poll() is None:
            server.kill()  # the model has started answering: stop its server
        pieces.append(content or "")
        last = chunk
    text = "".join(pieces)
    meta = (last.model_extra or {}) if last else {}
    assert "\n\n(The model's answer broke off: upstream connection failed" in text
    assert meta["ragqa"]["engine"] == "generator+extractive"
    assert "Mark Chen" in text.rpartition("broke off")[2]
    assert meta["citations"] and last is not None and last.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("timeouts", "reason"),
    [
        ({"llm_timeout": 0.2}, "upstream timed out"),  # no byte for 0.2 s
        ({"llm_total_timeout": 0.5}, "upstream took longer than 0.5 s"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_server_too_slow_gets_the_extractive_answer(
    llama: LlamaServer,
    seed_index: Path,
    embedder,  # type: ignore[no-untyped-def]
    timeouts: dict[str, float],
    reason: str,
    stream: bool,
) -> None:
    app = create_app(ragqa_settings(seed_index, llama, **timeouts), embedder=embedder)
    with live_server(app) as base:
        text, extra = complete(client(base), [{"role": "user", "content": OFFICER}], stream)
    assert extra["ragqa"]["fallback"].startswith(reason), extra["ragqa"]
    assert extra["ragqa"]["engine"] == "extractive"
    assert text.startswith("OpenAI’s chief research officer Mark Chen") and extra["citations"]
