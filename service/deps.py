"""Dependencies routes declare with ``Annotated`` aliases; state lives on ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from service.retrieval import Retriever
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_retriever(request: Request) -> Retriever:
    retriever: Retriever | None = request.app.state.retriever
    if retriever is None:
        reason = request.app.state.load_error or "the index is still loading"
        raise HTTPException(status_code=503, detail=f"not ready: {reason}")
    return retriever


SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[Retriever, Depends(get_retriever)]
