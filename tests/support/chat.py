"""Run one chat completion with the openai client, streamed or not, and collect the result."""

from __future__ import annotations

from typing import Any

from openai import OpenAI


def complete(
    client: OpenAI, messages: list[dict[str, str]], stream: bool
) -> tuple[str, dict[str, Any]]:
    """The reply text and the response's extra fields (citations, ragqa), either way."""
    if stream:
        chunks = list(client.chat.completions.create(model="ragqa", messages=messages, stream=True))  # type: ignore[arg-type]
        return "".join(c.choices[0].delta.content or "" for c in chunks), chunks[
            -1
        ].model_extra or {}
    r = client.chat.completions.create(model="ragqa", messages=messages)  # type: ignore[arg-type]
    return r.choices[0].message.content or "", r.model_extra or {}
