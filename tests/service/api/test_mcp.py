"""The MCP server, driven by the official MCP SDK client: streamable HTTP at /mcp on a real
uvicorn server, and stdio against a spawned `ragqa mcp`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from indexer.build import build_index
from service.api.app import create_app
from service.settings import Settings
from tests.support.live import live_server

QUESTION = "What share of the enterprise market does OpenAI have?"
RAGQA = str(Path(sys.executable).with_name("ragqa"))


def run(client: Client, body: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with client:
            return await body(client)

    return asyncio.run(main())


def http_client(url: str, key: str | None = None) -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers)))


async def exercise(client: Client) -> dict[str, Any]:
    """Everything a careful agent does: list, ask, read around the citation, make mistakes."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    ask = await client.call_tool("ask", {"question": QUESTION, "top_k": 3})
    cited = ask.structured_content["answer"]["citations"][0]
    window = await client.call_tool(
        "get_document", {"doc_id": cited["doc_id"], "start": cited["start"], "end": cited["end"]}
    )
    errors = {
        "empty": await client.call_tool("ask", {"question": "   "}),
        "top_k": await client.call_tool("ask", {"question": QUESTION, "top_k": 0}),
        "filters": await client.call_tool(
            "ask", {"question": QUESTION, "filters": {"published_after": "yesterday"}}
        ),
        "unknown": await client.call_tool("get_document", {"doc_id": "no-such-doc"}),
        "slice": await client.call_tool(
            "get_document", {"doc_id": cited["doc_id"], "start": 10, "end": 5}
        ),
        "limit": await client.call_tool("list_documents", {"limit": 0}),
        "list_filters": await client.call_tool(
            "list_documents", {"filters": {"published_before": "soon"}}
        ),
    }
    after = await client.call_tool("ask", {"question": QUESTION})  # the session survived
    return {
        "tools": tools,
        "ask": ask,
        "window": window,
        "errors": errors,
        "after": after,
        **await browse(client),
    }


async def browse(client: Client) -> dict[str, Any]:
    """Page through list_documents two at a time, narrow it, and read a document as a resource."""
    pages = []
    cursor = None
    while True:
        args = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.call_tool("list_documents", args)
        assert not page.is_error, page.content
        pages.append(page.structured_content)
        cursor = page.structured_content["next_cursor"]
        if cursor is None:
            break
    narrowed = await client.call_tool(
        "list_documents", {"filters": {"source_contains": "themena"}, "title_contains": "CHATGPT"}
    )
    first = pages[0]["documents"][0]
    templates = (await client.list_resource_templates()).resource_templates
    resource = await client.read_resource(first["uri"])
    try:
        await client.read_resource("ragqa://documents/no-such-doc")
        missing = None
    except Exception as e:  # the SDK raises the server's JSON-RPC error
        missing = str(e)
    return {
        "pages": pages,
        "narrowed": narrowed.structured_content,
        "templates": [t.uri_template for t in templates],
        "resource": json.loads(resource.contents[0].text),
        "missing": missing,
    }


def check_browse(result: dict[str, Any], document: Callable[[str], dict[str, Any]]) -> None:
    pages = result["pages"]
    listed = [d for page in pages for d in page["documents"]]
    ids = [d["doc_id"] for d in listed]
    assert [len(p["documents"]) for p in pages] == [2, 2, 1]  # five seed documents
    assert ids == sorted(ids) and len(set(ids)) == 5
    for d in listed:
        assert d["length"] == len(document(d["doc_id"])["text"])
        assert d["uri"] == f"ragqa://documents/{d['doc_id']}"
    narrowed = result["narrowed"]["documents"]
    assert narrowed and all(
        "themena" in d["source"] and "chatgpt" in d["title"].lower() for d in narrowed
    )
    assert len(narrowed) < 5 and result["narrowed"]["next_cursor"] is None
    assert result["templates"] == ["ragqa://documents/{doc_id}"]
    first = listed[0]
    assert result["resource"]["doc_id"] == first["doc_id"]
    assert result["resource"]["text"] == document(first["doc_id"])["text"]
    assert result["missing"] and "no-such-doc" in result["missing"]


def check(result: dict[str, Any], document: Callable[[str], dict[str, Any]]) -> None:
    tools = result["tools"]
    assert set(tools) == {"ask", "get_document", "list_documents"}
    for tool in tools.values():
        assert tool.description and tool.input_schema["properties"] and tool.output_schema
    assert tools["ask"].input_schema["required"] == ["question"]
    ask = result["ask"]
    assert not ask.is_error
    answer = ask.structured_content["answer"]
    assert "27%" in answer["text"]
    assert "27%" in ask.content[0].text and "[1]" in ask.content[0].text
    assert len(ask.structured_content["passages"]) == 3
    for c in answer["citations"]:
        text = document(c["doc_id"])["text"]
        assert text[c["start"] : c["end"]] in answer["text"]
    cited = answer["citations"][0]
    window = result["window"]
    assert not window.is_error
    full = document(cited["doc_id"])["text"]
    assert window.structured_content["text"] == full[cited["start"] : cited["end"]]
    assert window.structured_content["length"] == len(full)
    for name, field in [
        ("empty", "question"),
        ("top_k", "top_k"),
        ("filters", "filters"),
        ("unknown", "doc_id"),
        ("slice", "start/end"),
        ("limit", "limit"),
        ("list_filters", "filters"),
    ]:
        error = result["errors"][name]
        assert error.is_error, name
        assert field in error.content[0].text, (name, error.content[0].text)
    assert not result["after"].is_error
    check_browse(result, document)


def test_streamable_http_tools_cite_and_fail_cleanly(seed_server: str) -> None:
    result = run(http_client(f"{seed_server}/mcp"), exercise)
    check(result, lambda d: httpx.get(f"{seed_server}/v1/documents/{d}").json())


def test_stdio_server_spawned_by_the_sdk_client(seed_index: Path, seed_server: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    params = StdioServerParameters(
        command=RAGQA, args=["mcp", "--index", str(seed_index)], env=env | {"HF_HUB_OFFLINE": "1"}
    )
    result = run(Client(params, read_timeout_seconds=120), exercise)
    check(result, lambda d: httpx.get(f"{seed_server}/v1/documents/{d}").json())


def test_stdio_without_an_index_answers_with_a_tool_error_until_one_is_built(
    tmp_path: Path,
    corpus: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    index = tmp_path / "none"
    params = StdioServerParameters(
        command=RAGQA,
        args=["mcp", "--index", str(index)],
        env=env | {"HF_HUB_OFFLINE": "1", "RAGQA_RELOAD_INTERVAL": "0.2"},
    )

    async def body(client: Client) -> Any:
        before = await client.call_tool("ask", {"question": QUESTION})
        build_index(corpus, index, embedder)
        deadline = time.monotonic() + 60
        while (after := await client.call_tool("ask", {"question": QUESTION})).is_error:
            assert time.monotonic() < deadline, after.content[0].text
            await asyncio.sleep(0.2)
        return before, after

    before, after = run(Client(params, read_timeout_seconds=120), body)
    assert before.is_error and "index not ready" in before.content[0].text
    assert "27%" in after.structured_content["answer"]["text"]


def test_mcp_needs_a_key_when_keys_are_set(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(index_dir=seed_index, api_keys="s3cret")  # type: ignore[arg-type]
    with live_server(create_app(settings, embedder=embedder)) as url:
        r = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"

        async def body(client: Client) -> Any:
            return await client.call_tool("ask", {"question": QUESTION})

        result = run(http_client(f"{url}/mcp", "s3cret"), body)
        assert not result.is_error and result.structured_content["answer"] is not None


def test_a_reload_of_the_index_is_seen_by_the_next_call(
    tmp_path: Path, corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    index = tmp_path / "index"
    build_index(corpus, index, embedder)
    settings = Settings(index_dir=index, reload_interval=0.1)
    question = {"question": "When did the tidal plant at Kessock open?", "top_k": 1}
    with live_server(create_app(settings, embedder=embedder)) as url:

        async def ask(client: Client) -> Any:
            return await client.call_tool("ask", question)

        before = run(http_client(f"{url}/mcp"), ask)
        (corpus / "005_tides.txt").write_text(
            "Tidal Plant\n\nThe Kessock tidal plant opened on Monday, 4 May.", "utf-8"
        )
        version = build_index(corpus, index, embedder).version
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/readyz").json()["index"]["version"] != version:
            assert time.monotonic() < deadline, "the server never reloaded"
            time.sleep(0.05)
        after = run(http_client(f"{url}/mcp"), ask)
    assert before.structured_content["passages"][0]["doc_id"] != "005_tides"
    assert after.structured_content["passages"][0]["doc_id"] == "005_tides"
    assert after.structured_content["index"]["version"] == version


def test_a_busy_server_refuses_mcp_calls_with_a_tool_error(seed_index: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """MCP calls take the HTTP API's search slots: with all taken, ask is refused at once."""
    app = create_app(Settings(index_dir=seed_index, max_concurrent_searches=1), embedder=embedder)
    with live_server(app) as url:

        async def body(client: Client) -> Any:
            app.state.search_slots.in_use = 1  # a search in progress elsewhere
            busy = await client.call_tool("ask", {"question": QUESTION})
            listing = await client.call_tool("list_documents", {})  # not a search: served
            app.state.search_slots.in_use = 0
            return busy, listing, await client.call_tool("ask", {"question": QUESTION})

        busy, listing, after = run(http_client(f"{url}/mcp"), body)
        metrics = httpx.get(f"{url}/metrics").text
        slots_left = app.state.search_slots.in_use
    assert busy.is_error and "server busy: 1 searches already in progress" in busy.content[0].text
    assert not listing.is_error and not after.is_error
    assert slots_left == 0  # every call gave its slot back
    assert 'ragqa_rejected_requests_total{reason="saturated"} 1.0' in metrics


def test_stdio_server_follows_a_rebuild(tmp_path: Path, corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """A running `ragqa mcp` serves a rebuilt index within the reload interval."""
    index = tmp_path / "index"
    first = build_index(corpus, index, embedder).version
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    params = StdioServerParameters(
        command=RAGQA,
        args=["mcp", "--index", str(index)],
        env=env | {"HF_HUB_OFFLINE": "1", "RAGQA_RELOAD_INTERVAL": "0.2"},
    )
    question = {"question": "When did the tidal plant at Kessock open?", "top_k": 1}

    async def body(client: Client) -> Any:
        before = await client.call_tool("ask", question)
        (corpus / "005_tides.txt").write_text(
            "Tidal Plant\n\nThe Kessock tidal plant opened on Monday, 4 May.", "utf-8"
        )
        version = build_index(corpus, index, embedder).version
        deadline = time.monotonic() + 60
        while True:
            after = await client.call_tool("ask", question)
            if after.structured_content["index"]["version"] == version:
                return before, after, version
            assert time.monotonic() < deadline, "ragqa mcp never served the rebuilt index"
            await asyncio.sleep(0.2)

    before, after, version = run(Client(params, read_timeout_seconds=120), body)
    assert before.structured_content["index"]["version"] == first != version
    assert before.structured_content["passages"][0]["doc_id"] != "005_tides"
    assert after.structured_content["passages"][0]["doc_id"] == "005_tides"
