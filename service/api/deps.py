"""Dependencies routes declare with ``Annotated`` aliases; state lives on ``app.state``.

The ones that never block are ``async``: FastAPI runs a plain ``def`` dependency on a thread of its
pool, a hand-off that costs more than these checks themselves.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import SecretStr

from service.chat.engine import ChatEngine
from service.chat.generator import Generator
from service.ops.limits import RateLimiter, SearchSlots
from service.qa.answer import Answerer
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_answerer(request: Request) -> Answerer:
    """The answerer serving now; the request keeps this one even if a reload swaps it."""
    answerer: Answerer | None = request.app.state.answerer
    if answerer is None:
        reason = request.app.state.load_error or "the index is still loading"
        raise HTTPException(status_code=503, detail=f"not ready: {reason}")
    request.state.index_version = answerer.retriever.reader.version
    return answerer


SettingsDep = Annotated[Settings, Depends(get_settings)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]


async def get_chat_engine(request: Request) -> ChatEngine:
    return ChatEngine(await get_answerer(request), request.app.state.settings.chat_model_id)


async def get_generator(request: Request) -> Generator | None:
    generator: Generator | None = request.app.state.generator
    return generator


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _matches(token: str, keys: list[SecretStr]) -> bool:
    # Compare against every key so timing does not reveal which one nearly matched.
    given = token.encode()
    hits = [hmac.compare_digest(given, k.get_secret_value().encode()) for k in keys]
    return bool(token) and any(hits)


async def require_api_key(request: Request) -> None:
    """When RAGQA_API_KEYS is set, demand one of them (or an admin key) as a bearer token."""
    settings = request.app.state.settings
    if not settings.api_keys:
        return
    if not _matches(_bearer(request), [*settings.api_keys, *settings.admin_keys]):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key; send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_admin_key(request: Request) -> None:
    """Admin endpoints need an admin key; with no keys configured at all they are open."""
    settings = request.app.state.settings
    if not settings.admin_keys:
        if settings.api_keys:
            raise HTTPException(
                status_code=403, detail="admin endpoints are disabled: set RAGQA_ADMIN_KEYS"
            )
        return
    if not _matches(_bearer(request), settings.admin_keys):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid admin key; send Authorization: Bearer <admin key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def rate_limit(request: Request) -> None:
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return
    client = _bearer(request) or (request.client.host if request.client else "unknown")
    if limiter.blocking:
        wait = await run_in_threadpool(limiter.acquire, client)
    else:
        wait = limiter.acquire(client)
    if wait > 0:
        request.app.state.metrics.rejected.labels(reason="rate_limited").inc()
        raise HTTPException(
            status_code=429,
            detail=f"rate limit of {request.app.state.settings.rate_limit_per_minute} requests "
            "per minute exceeded; retry after the Retry-After seconds",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )


async def search_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of the bounded search slots for the duration of the search."""
    slots: SearchSlots = request.app.state.search_slots
    if not slots.try_acquire():
        request.app.state.metrics.rejected.labels(reason="saturated").inc()
        busy = HTTPException(
            status_code=503,
            detail=f"server busy: {slots.limit} searches already in progress; retry shortly",
            headers={"Retry-After": "1"},
        )
        busy.code = "busy"  # type: ignore[attr-defined]  # read by the error handler
        raise busy
    try:
        yield
    finally:
        slots.release()


ChatEngineDep = Annotated[ChatEngine, Depends(get_chat_engine)]
GeneratorDep = Annotated[Generator | None, Depends(get_generator)]
