"""The optional generator, against a scripted OpenAI-compatible server started by the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from openai import OpenAI

from service.api.app import create_app
from service.chat.generator import MarkerRewriter
from service.settings import Settings
from tests.support.chat import complete
from tests.support.live import live_server

SCRIPT: dict[str, Any] = {}
RECEIVED: list[dict[str, Any]] = []


def _upstream() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        RECEIVED.append(await request.json())
        mode = SCRIPT["mode"]
        if mode == "error":
            return JSONResponse({"error": {"message": "model overloaded"}}, status_code=500)
        if mode == "slow":
            await asyncio.sleep(5)

        async def events() -> AsyncIterator[str]:
            for i, piece in enumerate(SCRIPT["pieces"]):
                if mode == "stall" and i == 2:
                    await asyncio.sleep(5)
                chunk = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with live_server(_upstream()) as url:
        yield url


@pytest.fixture(scope="module")
def base(upstream: str, seed_index: Path, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = Settings(
        index_dir=seed_index,
        llm_base_url=f"{upstream}/v1",
        llm_model="tiny",
        llm_api_key="sk-up",  # type: ignore[arg-type]
        llm_timeout=1.0,
        llm_total_timeout=3.0,
    )
    with live_server(create_app(settings, embedder=embedder)) as url:
        yield url


@pytest.fixture
def client(base: str) -> OpenAI:
    RECEIVED.clear()
    return OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)


QUESTION = [{"role": "user", "content": "What share of the enterprise market does OpenAI have?"}]
# The model cites source 2 first, repeats it, cites a source that does not exist, splits markers.
PIECES = ["OpenAI has 27% [", "2], behind Anthropic [2][9]", " and others [1", ", 7]."]
EXPECTED = "OpenAI has 27% [1], behind Anthropic [1] and others [2]."


def test_generated_answer_keeps_the_citation_mapping(client: OpenAI) -> None:
    SCRIPT.update(mode="ok", pieces=PIECES)
    r = client.chat.completions.create(model="ragqa", messages=QUESTION, temperature=0.1)  # type: ignore[arg-type]
    content = r.choices[0].message.content or ""
    answer, _, sources = content.partition("\n\nSources:\n")
    assert answer == EXPECTED
    extra = r.model_extra or {}
    assert extra["ragqa"]["engine"] == "generator"
    citations = extra["citations"]
    assert [c["index"] for c in citations] == [1, 2]
    # [1] is what the model called source 2: the second context passage it was sent.
    sent = RECEIVED[0]
    context = sent["messages"][0]["content"]
    assert citations[0]["text"] in context.split("[2] ", 1)[1].split("\n\n[3] ", 1)[0]
    assert citations[1]["text"] in context.split("[1] ", 1)[1].split("\n\n[2] ", 1)[0]
    assert sources.startswith(f"[1] {citations[0]['title']} — ")
    # The upstream got the numbered sources, the conversation, the settings and the key.
    assert sent["model"] == "tiny" and sent["stream"] is True and sent["temperature"] == 0.1
    assert sent["messages"][-1] == QUESTION[0]


def test_generated_answer_streams_through(client: OpenAI) -> None:
    SCRIPT.update(mode="ok", pieces=PIECES)
    chunks = list(client.chat.completions.create(model="ragqa", messages=QUESTION, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.partition("\n\nSources:\n")[0] == EXPECTED
    final = chunks[-1].model_extra or {}
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert [c["index"] for c in final["citations"]] == [1, 2]


@pytest.mark.parametrize(
    ("mode", "pieces", "reason"),
    [
        ("slow", PIECES, "timed out"),
        ("error", PIECES, "HTTP 500"),
        ("ok", ["", " \n"], "upstream sent an empty answer"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failure_falls_back_to_the_extractive_answer(
    client: OpenAI, mode: str, pieces: list[str], reason: str, stream: bool
) -> None:
    SCRIPT.update(mode=mode, pieces=pieces)
    text, extra = complete(client, QUESTION, stream)
    assert extra["ragqa"]["engine"] == "extractive"
    assert reason in extra["ragqa"]["fallback"]
    assert "27%" in text and extra["citations"]


def test_upstream_stalling_mid_stream_ends_with_the_extractive_answer(client: OpenAI) -> None:
    SCRIPT.update(mode="stall", pieces=["OpenAI [2] ", "has ", "27% [1]."])
    text, extra = complete(client, QUESTION, stream=True)
    generated, _, rest = text.partition("\n\n(The model's answer broke off: upstream timed out")
    assert generated == "OpenAI [1] has "  # what had been sent stands, its marker resolved
    assert extra["ragqa"]["engine"] == "generator+extractive"
    cited, _, extractive = rest.partition("\n\nFrom the sources:\n\n")
    assert "\n\nSources:\n[1] " in cited and "27%" in extractive
    # The extractive answer's sources are numbered after the one the model cited.
    assert extractive.split("\n\n")[0].endswith("[2]")
    assert [c["index"] for c in extra["citations"]] == [1, 2]


def test_non_streaming_stall_falls_back(client: OpenAI) -> None:
    SCRIPT.update(mode="stall", pieces=["OpenAI ", "has ", "27% [1]."])
    r = client.chat.completions.create(model="ragqa", messages=QUESTION)  # type: ignore[arg-type]
    assert (r.model_extra or {})["ragqa"]["engine"] == "extractive"


@pytest.mark.parametrize(
    ("pieces", "expected", "order"),
    [
        (["a [3] b [1] c [3]"], "a [1] b [2] c [1]", [3, 1]),
        (["x [", "12", "] y"], "x y", []),
        (["x [1,", " 2] y"], "x [1][2] y", [1, 2]),
        (["see [0] and [2]", "."], "see and [1].", [2]),
        (["array[", "i] stays"], "array[i] stays", []),
        (["ends with ["], "ends with [", []),
    ],
)
def test_marker_rewriter(pieces: list[str], expected: str, order: list[int]) -> None:
    rewriter = MarkerRewriter(sources=5)
    out = "".join(rewriter.feed(p) for p in pieces) + rewriter.flush()
    assert out == expected and rewriter.order == order
