"""Dependencies routes declare with ``Annotated`` aliases; state lives on ``app.state``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from service.answer import Answerer
from service.chat.engine import ChatEngine
from service.chat.generator import Generator
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_answerer(request: Request) -> Answerer:
    answerer: Answerer | None = request.app.state.answerer
    if answerer is None:
        reason = request.app.state.load_error or "the index is still loading"
        raise HTTPException(status_code=503, detail=f"not ready: {reason}")
    return answerer


SettingsDep = Annotated[Settings, Depends(get_settings)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]


def get_chat_engine(request: Request) -> ChatEngine:
    return ChatEngine(get_answerer(request), request.app.state.settings.chat_model_id)


def get_generator(request: Request) -> Generator | None:
    generator: Generator | None = request.app.state.generator
    return generator


def require_api_key(request: Request) -> None:
    """When RAGQA_API_KEYS is set, demand one of them as a bearer token (constant-time compare)."""
    keys = request.app.state.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode()
    ok = scheme.lower() == "bearer" and given != b""
    # Compare against every key so timing does not reveal which one nearly matched.
    matches = [hmac.compare_digest(given, k.get_secret_value().encode()) for k in keys]
    if not (ok and any(matches)):
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key; send Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )


ChatEngineDep = Annotated[ChatEngine, Depends(get_chat_engine)]
GeneratorDep = Annotated[Generator | None, Depends(get_generator)]
