"""Optional answer generation by any OpenAI-compatible server, grounded in numbered passages."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from service.chat.schemas import ChatRequest
from service.schemas import Passage

SYSTEM_PROMPT = """You answer questions about a news corpus using only the numbered sources below.
Cite the sources that support each statement inline with their numbers in square brackets, like [1]
or [2][3]. Do not cite a number that is not listed. Do not add a list of sources at the end. If the
sources do not contain the answer, say that you could not find it in the corpus.

Sources:
{sources}"""


class GeneratorError(Exception):
    """The upstream model did not produce an answer (timeout, HTTP error, bad payload)."""


def format_sources(passages: list[Passage]) -> str:
    blocks = []
    for i, p in enumerate(passages, 1):
        meta = ", ".join(x for x in (p.title, p.source, p.published) if x)
        blocks.append(f"[{i}] {meta}\n{p.text}")
    return "\n\n".join(blocks)


class Generator:
    """Streams a chat completion from ``base_url`` (…/v1), passing the passages as context."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        total_timeout: float = 120.0,
    ) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self.total_timeout = total_timeout

    def messages(self, request: ChatRequest, passages: list[Passage]) -> list[dict[str, str]]:
        out = [
            {"role": "system", "content": SYSTEM_PROMPT.format(sources=format_sources(passages))}
        ]
        for m in request.messages:
            role = "system" if m.role == "developer" else m.role
            out.append({"role": role, "content": m.text})
        return out

    async def stream(self, request: ChatRequest, passages: list[Passage]) -> AsyncIterator[str]:
        """Content deltas as the upstream model produces them; raises GeneratorError on failure."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages(request, passages),
            "stream": True,
        }
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with asyncio.timeout(self.total_timeout):
                async with self.client.stream(
                    "POST", self.url, json=payload, headers=headers, timeout=self.timeout
                ) as response:
                    if response.status_code != 200:
                        body = (await response.aread()).decode("utf-8", "replace")[:200]
                        raise GeneratorError(
                            f"upstream answered HTTP {response.status_code}: {body}"
                        )
                    async for line in response.aiter_lines():
                        delta = _delta(line)
                        if delta is None:
                            break
                        if delta:
                            yield delta
        except TimeoutError as e:
            raise GeneratorError(f"upstream took longer than {self.total_timeout:g} s") from e
        except httpx.TimeoutException as e:
            raise GeneratorError(f"upstream timed out ({type(e).__name__})") from e
        except httpx.ConnectError as e:
            raise GeneratorError(f"upstream unreachable: {e}") from e
        except httpx.HTTPError as e:  # e.g. the server closed the connection mid-answer
            raise GeneratorError(f"upstream connection failed ({type(e).__name__}: {e})") from e


def _delta(line: str) -> str | None:
    """The content of one SSE line: '' for lines without content, None at the end."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except ValueError as e:
        raise GeneratorError(f"upstream sent a malformed event: {data[:80]!r}") from e
    if isinstance(chunk, dict) and "error" in chunk:
        raise GeneratorError(f"upstream error: {chunk['error']}")
    try:
        choice = chunk["choices"][0]
    except (KeyError, IndexError, TypeError):
        return ""
    content = (choice.get("delta") or {}).get("content") or ""
    return content if isinstance(content, str) else ""


class MarkerRewriter:
    """Renumbers [n] markers by order of first use and drops markers that point nowhere.

    Works on a stream: a chunk ending in a partial marker ("… [1") is held back until the marker
    is complete, so no client ever sees a number that is later changed.
    """

    _MARKER = re.compile(r"(\s?)\[(\d+(?:\s*,\s*\d+)*)\]")
    _PARTIAL = re.compile(r"\s?\[[\d,\s]*$")

    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.order: list[int] = []  # source numbers, in the order the text first cites them
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        partial = self._PARTIAL.search(text)
        if partial and len(text) - partial.start() <= 24:
            text, self._held = text[: partial.start()], text[partial.start() :]
        else:
            self._held = ""
        return self._MARKER.sub(self._renumber, text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self._MARKER.sub(self._renumber, text)

    def _renumber(self, match: re.Match[str]) -> str:
        kept = []
        for number in (int(n) for n in re.split(r"\s*,\s*", match.group(2))):
            if 1 <= number <= self.sources:
                if number not in self.order:
                    self.order.append(number)
                kept.append(self.order.index(number) + 1)
        if not kept:
            return ""
        return match.group(1) + "".join(f"[{k}]" for k in dict.fromkeys(kept))
