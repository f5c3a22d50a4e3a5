"""OpenAI-compatible chat completions and model list, for chat front-ends and SDKs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import ChatEngineDep, GeneratorDep
from service.chat.conversation import ConversationError
from service.chat.engine import ChatEngine, Grounding
from service.chat.generator import Generator, GeneratorError, MarkerRewriter
from service.chat.schemas import (
    ChatCitation,
    ChatCompletion,
    ChatRequest,
    Choice,
    ModelCard,
    ModelList,
    ResponseMessage,
)
from service.render import Rendered, citation, passage_span, sources_list
from service.schemas import ErrorResponse

log = logging.getLogger("ragqa")
EMPTY = "upstream sent an empty answer"
router = APIRouter(prefix="/v1", tags=["chat"])


@router.get("/models", response_model=ModelList, summary="The model id(s) this server answers as")
def models(engine: ChatEngineDep) -> ModelList:
    built = engine.answerer.retriever.reader.manifest["built_at"]
    created = int(datetime.fromisoformat(built.replace("Z", "+00:00")).timestamp())
    return ModelList(data=[ModelCard(id=engine.model_id, created=created)])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream=true"},
        422: {"model": ErrorResponse},
    },
    summary="OpenAI-compatible chat completion, grounded in the corpus with citations",
)
async def chat_completions(
    body: ChatRequest, engine: ChatEngineDep, generator: GeneratorDep
) -> Any:
    try:
        grounding = await run_in_threadpool(engine.ground, body)
    except ConversationError as e:
        raise HTTPException(status_code=422, detail=str(e)) from e
    if body.stream:
        return StreamingResponse(
            _stream(engine, generator, body, grounding),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    reply, meta = await _complete(engine, generator, body, grounding)
    return ChatCompletion(
        id=grounding.completion_id,
        created=grounding.created,
        model=engine.model_id,
        choices=[Choice(message=ResponseMessage(content=reply.text))],
        citations=reply.citations,
        ragqa=meta,
    )


def _meta(grounding: Grounding, reply_found: bool, **extra: Any) -> dict[str, Any]:
    return {
        "answer_found": reply_found,
        "query": grounding.query,
        "index": grounding.response.index.model_dump(),
        **extra,
    }


async def _complete(
    engine: ChatEngine, generator: Generator | None, body: ChatRequest, grounding: Grounding
) -> tuple[Rendered, dict[str, Any]]:
    if generator is None:
        reply = engine.extractive(grounding)
        return reply, _meta(grounding, reply.found, engine="extractive")
    passages = grounding.response.passages
    rewriter = MarkerRewriter(len(passages))
    try:
        parts = [rewriter.feed(d) async for d in generator.stream(body, passages)]
        text = ("".join(parts) + rewriter.flush()).strip()
        if not text:
            raise GeneratorError(EMPTY)
    except GeneratorError as e:
        log.warning("generator failed, answering extractively: %s", e)
        reply = engine.extractive(grounding)
        return reply, _meta(grounding, reply.found, engine="extractive", fallback=str(e))
    citations = _generated_citations(engine, grounding, rewriter)
    reply = Rendered(f"{text}\n\n{sources_list(citations)}", citations, bool(rewriter.order))
    return reply, _meta(grounding, reply.found, engine="generator")


def _generated_citations(
    engine: ChatEngine, grounding: Grounding, rewriter: MarkerRewriter
) -> list[ChatCitation]:
    """The passages the model cited, in the order it first cited them; when it cited none, all
    the passages it was given (the answer can only have come from them)."""
    passages = grounding.response.passages
    numbers = rewriter.order or range(1, len(passages) + 1)
    spans = [passage_span(passages[n - 1]) for n in numbers]
    return [citation(i, s, engine.document) for i, s in enumerate(spans, 1)]


def _cut_off(
    engine: ChatEngine, grounding: Grounding, rewriter: MarkerRewriter, reason: str
) -> Rendered:
    """What follows a generated answer that broke off: the extractive answer, its sources
    numbered after the ones the model had already cited."""
    cited = _generated_citations(engine, grounding, rewriter) if rewriter.order else []
    extractive = engine.extractive(grounding, first=len(cited) + 1)
    text = f"{rewriter.flush()}\n\n(The model's answer broke off: {reason}.)\n\n"
    if cited:
        text += f"{sources_list(cited)}\n\nFrom the sources:\n\n"
    text += extractive.text
    return Rendered(text, cited + extractive.citations, extractive.found)


def _event(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


async def _stream(
    engine: ChatEngine, generator: Generator | None, body: ChatRequest, grounding: Grounding
) -> AsyncIterator[str]:
    """SSE in the OpenAI chunk format; citations ride on the final chunk."""
    head = {
        "id": grounding.completion_id,
        "object": "chat.completion.chunk",
        "created": grounding.created,
        "model": engine.model_id,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _event({**head, "choices": [choice], **extra})

    yield chunk({"role": "assistant", "content": ""})
    reply: Rendered | None = None
    meta: dict[str, Any] = {}
    if generator is not None:
        passages = grounding.response.passages
        rewriter = MarkerRewriter(len(passages))
        sent = False
        try:
            async for delta in generator.stream(body, passages):
                text = rewriter.feed(delta)
                if text:
                    sent = sent or bool(text.strip())
                    yield chunk({"content": text})
            tail = rewriter.flush()
            if not sent and not tail.strip():
                raise GeneratorError(EMPTY)
            citations = _generated_citations(engine, grounding, rewriter)
            yield chunk({"content": f"{tail}\n\n{sources_list(citations)}"})
            reply = Rendered("", citations, bool(rewriter.order))
            meta = _meta(grounding, reply.found, engine="generator")
        except GeneratorError as e:
            log.warning("generator failed, answering extractively: %s", e)
            meta = {"fallback": str(e)}
            if sent:  # part of an answer is out: say it broke off, then give the extractive one
                reply = _cut_off(engine, grounding, rewriter, str(e))
                meta = _meta(grounding, reply.found, engine="generator+extractive", **meta)
                for piece in re.findall(r"\s*\S+\s*", reply.text):
                    yield chunk({"content": piece})
    if reply is None:
        reply = engine.extractive(grounding)
        meta = _meta(grounding, reply.found, engine="extractive", **meta)
        for piece in re.findall(r"\S+\s*", reply.text):
            yield chunk({"content": piece})
    yield chunk({}, "stop", citations=[c.model_dump() for c in reply.citations], ragqa=meta)
    yield _event("[DONE]")
