"""The HTTP contract of /v1/ask, /v1/documents, probes and errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(seed_index: Path, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(Settings(index_dir=seed_index), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_ask_returns_cited_passages(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "  Why did Jerry Tworek leave OpenAI?  "})
    assert r.status_code == 200
    body = r.json()
    # The issue-2 contract; later features may add keys but never remove these.
    assert set(body) >= {"question", "passages", "index", "took_ms"}
    assert body["question"] == "Why did Jerry Tworek leave OpenAI?"
    assert set(body["index"]) == {"version", "built_at"}
    assert len(body["passages"]) == 5
    assert [p["rank"] for p in body["passages"]] == [1, 2, 3, 4, 5]
    scores = [p["score"] for p in body["passages"]]
    assert scores == sorted(scores, reverse=True)
    for p in body["passages"]:
        assert set(p) >= {
            "rank",
            "score",
            "text",
            "doc_id",
            "chunk_id",
            "title",
            "source",
            "published",
            "start",
            "end",
        }
        doc = client.get(f"/v1/documents/{p['doc_id']}").json()
        assert doc["text"][p["start"] : p["end"]] == p["text"]
        assert (doc["title"], doc["source"], doc["published"]) == (
            p["title"],
            p["source"],
            p["published"],
        )
        assert p["chunk_id"].startswith(p["doc_id"] + "#")
    # The passage that gives the reason is near the top: fifth or sixth, 0.003 from the same
    # article's first passage, as the CPU's INT8 arithmetic decides the question's vector.
    more = client.post("/v1/ask", json={"question": body["question"], "top_k": 8}).json()
    assert any("continuous learning" in p["text"] for p in more["passages"][:6])


def test_sources_and_dates(client: TestClient) -> None:
    passages = client.post(
        "/v1/ask", json={"question": "OpenAI $500 billion valuation", "top_k": 50}
    ).json()["passages"]
    by_doc = {p["doc_id"]: p for p in passages}
    wp = by_doc["001_431aca0937e33b64"]
    assert wp["source"].startswith("https://themena.com/") and wp["published"] == "2026-02-03"
    txt = by_doc["000_86f8993b5b014a66"]
    assert txt["source"] == "000_86f8993b5b014a66.txt" and txt["published"] is None


def test_top_k(client: TestClient) -> None:
    assert (
        len(client.post("/v1/ask", json={"question": "OpenAI", "top_k": 1}).json()["passages"]) == 1
    )
    assert (
        len(client.post("/v1/ask", json={"question": "OpenAI", "top_k": 30}).json()["passages"])
        == 30
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"question": ""}, "question: String should have at least 1 character"),
        ({"question": "   \n "}, "question: String should have at least 1 character"),
        (
            {"question": "x" * 2001},
            "question: String should have at most 2000 characters, got 2001 characters",
        ),
        (
            {"question": "ok", "top_k": 0},
            "top_k: Input should be greater than or equal to 1, got 0",
        ),
        (
            {"question": "ok", "top_k": 51},
            "top_k: Input should be less than or equal to 50, got 51",
        ),
        ({"question": "ok", "top_k": "many"}, "top_k: Input should be a valid integer"),
        ({}, "question: field required"),
        ({"question": "ok", "topk": 3}, "topk: Extra inputs are not permitted"),
        ({"question": 5}, "question: Input should be a valid string"),
    ],
)
def test_invalid_requests_get_422(client: TestClient, payload: dict, message: str) -> None:  # type: ignore[type-arg]
    r = client.post("/v1/ask", json=payload)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert message in error["message"]


def test_question_of_exactly_2000_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/v1/ask", json={"question": "a " * 999 + "ok"}).status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b'{"question": "x",}', b""])
def test_malformed_json_gets_400(client: TestClient, raw: bytes) -> None:
    r = client.post("/v1/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.json()["error"]["code"] in ("invalid_json", "validation_error")


def test_non_object_body_gets_422(client: TestClient) -> None:
    r = client.post("/v1/ask", json=["question"])
    assert r.status_code == 422 and "error" in r.json()


def test_unknown_document_404(client: TestClient) -> None:
    r = client.get("/v1/documents/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "no document with doc_id 'nope'"}}


def test_wrong_method_and_unknown_route(client: TestClient) -> None:
    r = client.get("/v1/ask")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_probes_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["documents"] == 5
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    ask = spec["components"]["schemas"]["AskRequest"]["properties"]
    assert ask["top_k"]["maximum"] == 50 and ask["question"]["maxLength"] == 2000


def test_not_ready_without_an_index(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings(index_dir=tmp_path / "missing"), embedder=embedder)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "no index at" in r.json()["error"]["message"]
        r = c.post("/v1/ask", json={"question": "anything"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (b"", {"content-type": "application/json"}),
        (b'{"question": "hi"}', {"content-type": "text/plain"}),
    ],
)
def test_missing_or_mistyped_body_explains_what_to_send(
    client: TestClient, raw: bytes, headers: dict
) -> None:  # type: ignore[type-arg]
    r = client.post("/v1/ask", content=raw, headers=headers)
    assert r.status_code == 422
    assert "request body must be a JSON object" in r.json()["error"]["message"]
