"""The OpenAI-compatible chat API, driven by the official openai client over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from service.api.app import create_app
from service.render import NOT_FOUND
from service.settings import Settings
from tests.support.chat import complete
from tests.support.live import live_server

TWOREK_DOCS = {
    "000_86f8993b5b014a66",
    "001_431aca0937e33b64",
    "002_b7aaf7630593e51a",
    "003_624b953a81d8b286",
    "004_18dd4046727b8826",
}


@pytest.fixture
def base(seed_server: str) -> str:
    return seed_server


@pytest.fixture
def client(base: str) -> OpenAI:
    return OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)


def _check_grounded(content: str, citations: list[dict], base: str) -> None:  # type: ignore[type-arg]
    """Markers are 1-based, all point into the array, and every citation slices back exactly."""
    answer, _, sources = content.partition("\n\nSources:\n")
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert markers == {c["index"] for c in citations} == set(range(1, len(citations) + 1))
    for c in citations:
        doc = httpx.get(f"{base}/v1/documents/{c['doc_id']}").json()
        assert doc["text"][c["start"] : c["end"]] == c["text"]
        assert f"[{c['index']}] {c['title']} — " in sources
        assert c["text"] in answer or c["index"] > 1  # [1] is the quoted answer itself


def test_models(client: OpenAI) -> None:
    assert [m.id for m in client.models.list().data] == ["ragqa"]


def test_create_answers_with_markers_and_citations(client: OpenAI, base: str) -> None:
    r = client.chat.completions.create(
        model="ragqa",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What share of the enterprise market does OpenAI have?"},
        ],
        temperature=0.2,
        max_tokens=200,
    )
    content = r.choices[0].message.content or ""
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
    assert "27%" in content and "[1]" in content and "\n\nSources:\n[1] " in content
    citations = r.model_extra["citations"]  # type: ignore[index]
    assert set(citations[0]) == {
        "index",
        "doc_id",
        "title",
        "source",
        "url",
        "site_name",
        "published",
        "start",
        "end",
        "text",
    }
    _check_grounded(content, citations, base)
    assert r.model_extra["ragqa"]["answer_found"] is True  # type: ignore[index]


def test_stream_delivers_the_same_answer_and_citations_last(client: OpenAI, base: str) -> None:
    question = [{"role": "user", "content": "What did Mark Chen say about foundational research?"}]
    whole = client.chat.completions.create(model="ragqa", messages=question)  # type: ignore[arg-type]
    chunks = list(client.chat.completions.create(model="ragqa", messages=question, stream=True))  # type: ignore[arg-type]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) > 4  # streamed in pieces
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    final = chunks[-1].model_extra
    assert final is not None and final["citations"] == whole.model_extra["citations"]  # type: ignore[index]
    _check_grounded(text, final["citations"], base)


def test_follow_up_questions_use_the_conversation(client: OpenAI) -> None:
    first = client.chat.completions.create(
        model="ragqa", messages=[{"role": "user", "content": "Why did Jerry Tworek leave OpenAI?"}]
    )
    # The reason the corpus gives, as /v1/ask answers it (issue 24: once a restating sentence).
    assert "hard to do at OpenAI" in (first.choices[0].message.content or "")
    follow = client.chat.completions.create(
        model="ragqa",
        messages=[
            {"role": "user", "content": "Why did Jerry Tworek leave OpenAI?"},
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": "What year did he join the company?"},
        ],
    )
    meta = follow.model_extra["ragqa"]  # type: ignore[index]
    assert "Jerry Tworek" in meta["query"]
    # "Having joined the company in 2019, Tworek was …" (issue 24: once a sentence with no year)
    assert "2019" in (follow.choices[0].message.content or "")
    citations = follow.model_extra["citations"]  # type: ignore[index]
    assert citations and {c["doc_id"] for c in citations} <= TWOREK_DOCS
    assert "Tworek" in citations[0]["text"]


@pytest.mark.parametrize("stream", [False, True])
def test_says_plainly_when_the_corpus_has_no_answer(client: OpenAI, stream: bool) -> None:
    messages = [{"role": "user", "content": "What is the capital of Australia?"}]
    text, extra = complete(client, messages, stream)
    assert text == NOT_FOUND
    assert extra["citations"] == [] and extra["ragqa"]["answer_found"] is False


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([], "messages: List should have at least 1 item"),
        ([{"role": "system", "content": "hello"}], "messages must include a user message"),
        ([{"role": "user", "content": "   "}], "messages must include a user message"),
        (
            [{"role": "wizard", "content": "hi"}],
            "messages.0.role: Input should be 'system', 'developer', 'user' or 'assistant'",
        ),
        (
            [{"role": "user", "content": "x" * 20_000}],
            "message is 20000 characters, over the 16000 limit",
        ),
        ([{"role": "user", "content": "x " * 1500}], "questions are limited to 2000"),
        ([{"role": "user"}], "messages must include a user message"),
    ],
)
def test_bad_requests_get_a_json_4xx(client: OpenAI, messages: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="ragqa", messages=messages)
    assert 400 <= info.value.status_code < 500
    error = info.value.response.json()["error"]
    assert message in error["message"] and error["code"]


def test_malformed_json_body(base: str) -> None:
    r = httpx.post(
        f"{base}/v1/chat/completions", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_api_keys_and_cors(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        index_dir=seed_index, api_keys="k1, k2", cors_origins="https://chat.example"
    )  # type: ignore[arg-type]
    with live_server(create_app(settings, embedder=embedder)) as url:
        bad = OpenAI(base_url=f"{url}/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.models.list()
        assert info.value.response.json()["error"]["code"] == "unauthorized"
        good = OpenAI(base_url=f"{url}/v1", api_key="k2", max_retries=0)
        assert good.models.list().data[0].id == "ragqa"
        assert httpx.post(f"{url}/v1/ask", json={"question": "x"}).status_code == 401
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert httpx.get(f"{url}/").status_code == 200  # the page loads; its API calls need the key
        preflight = {
            "Origin": "https://chat.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        r = httpx.options(f"{url}/v1/chat/completions", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://chat.example"
        r = httpx.options(
            f"{url}/v1/chat/completions", headers=preflight | {"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in r.headers
