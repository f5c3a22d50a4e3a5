"""The built-in chat page in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from service.api.app import create_app
from service.settings import Settings
from tests.conftest import ROOT
from tests.support.live import live_server

ARTIFACTS = ROOT / "test-artifacts"
# The flags keep Chromium from reaching for the network it does not have here.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def base(seed_server: str) -> str:
    return seed_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(executable).exists(), "Debian's chromium is missing: run `make test` to install it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield b
        b.close()


def _ask(page: Page, question: str) -> None:
    count = page.locator(".msg.assistant.done").count()
    page.fill("#question", question)
    page.click("#send")
    page.wait_for_function(
        f"document.querySelectorAll('.msg.assistant.done').length > {count}", timeout=60_000
    )


def test_ask_see_streamed_answer_open_citation(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/")
    _ask(page, "What share of the enterprise market does OpenAI have?")
    answer = page.locator(".msg.assistant").last
    assert "27%" in answer.inner_text() and "Sources:" in answer.inner_text()
    assert "not-found" not in (answer.get_attribute("class") or "")
    buttons = answer.locator("button.cite")
    assert buttons.count() >= 2  # the inline marker and its entry in the source list
    buttons.first.click()
    mark = page.locator("#viewer-text mark")
    mark.wait_for()
    expected = httpx.post(
        f"{base}/v1/chat/completions",
        json={
            "messages": [
                {"role": "user", "content": "What share of the enterprise market does OpenAI have?"}
            ]
        },
    ).json()["citations"][0]
    assert mark.inner_text() == expected["text"]
    assert page.locator("#viewer-title").inner_text().startswith("[1] ")
    assert mark.is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-page.png"))
    page.close()


def test_not_found_state_and_phone_width(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/")
    _ask(page, "Who won the 2018 FIFA World Cup?")
    answer = page.locator(".msg.assistant").last
    assert "not-found" in (answer.get_attribute("class") or "")
    assert answer.locator(".badge").inner_text() == "Not found in the corpus"
    assert answer.locator("button.cite").count() == 0
    _ask(page, "Who is OpenAI's chief research officer?")
    page.locator(".msg.assistant").last.locator("button.cite").first.click()
    page.locator("#viewer-text mark").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than a phone screen"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-page-phone.png"))
    page.close()


def test_page_shows_errors_and_uses_the_api_key(
    browser: Browser, seed_index: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(index_dir=seed_index, api_keys="s3cret")  # type: ignore[arg-type]
    with live_server(create_app(settings, embedder=embedder)) as url:
        page = browser.new_page()
        page.goto(f"{url}/")
        page.fill("#question", "Who is OpenAI's chief research officer?")
        page.click("#send")
        page.wait_for_selector(".msg.assistant.error")
        assert "missing or invalid API key" in page.locator(".msg.assistant.error").inner_text()
        page.click("#settings summary")
        page.fill("#api-key", "s3cret")
        page.dispatch_event("#api-key", "change")
        _ask(page, "Who is OpenAI's chief research officer?")
        assert "Mark Chen" in page.locator(".msg.assistant").last.inner_text()
        page.close()


def test_hostile_citation_metadata_is_text_and_never_a_script_link(
    browser: Browser, base: str
) -> None:
    """Even if a response carried a javascript: URL and markup in a title (the server withholds
    such URLs; an older index or a proxy might not), the page shows them as inert text."""
    page = browser.new_page()

    def poison(route) -> None:  # type: ignore[no-untyped-def]
        body = route.fetch().text()
        body = re.sub(r'"url": ?(null|"[^"]*")', '"url": "javascript:window.__pwned=1"', body)
        body = re.sub(r'"title": ?"', '"title": "<img src=x onerror=window.__pwned=2>', body)
        assert "javascript:" in body
        route.fulfill(status=200, body=body, headers={"content-type": "text/event-stream"})

    page.route("**/v1/chat/completions", poison)
    page.goto(f"{base}/")
    _ask(page, "Who is OpenAI's chief research officer?")
    page.locator(".msg.assistant").last.locator("button.cite").first.click()
    page.locator("#viewer-text mark").wait_for()
    meta = page.locator("#viewer-meta")
    assert meta.locator("a").count() == 0  # no link at all: the URL is not http(s)
    assert page.locator("a[href^='javascript' i]").count() == 0
    assert page.locator("#viewer img, .msg img").count() == 0
    assert "<img src=x" in page.locator("#viewer-title").inner_text()
    meta.click()
    assert page.evaluate("window.__pwned === undefined")
    page.close()


def test_api_docs_render_with_the_network_blocked(browser: Browser, base: str) -> None:
    """Swagger UI comes from the app (fastapi-offline's copy), not from a CDN."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def only_this_server(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{base}/docs")
    page.locator(".opblock-summary-path[data-path='/v1/ask']").wait_for(timeout=30_000)
    paths = {
        p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert {"/v1/ask", "/v1/chat/completions", "/v1/documents/{doc_id}"} <= paths
    assert outside == []
    # ReDoc would fetch its logo from cdn.redoc.ly: it is not served at all.
    assert httpx.get(f"{base}/redoc").status_code == 404
    page.close()
