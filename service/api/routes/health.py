"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.schemas import ErrorResponse, Health, IndexInfo, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": ErrorResponse, "description": "Index or model not loaded"}},
    summary="The index and model are loaded and queries can be answered",
)
def readyz(request: Request) -> Ready | JSONResponse:
    answerer = request.app.state.answerer
    if answerer is None:
        reason = request.app.state.load_error or "the index is still loading"
        return JSONResponse(
            status_code=503, content={"error": {"code": "not_ready", "message": reason}}
        )
    reader = answerer.retriever.reader
    counts = answerer.retriever.counts
    batching = request.app.state.encoder
    encoder = batching.encoder if batching is not None else None
    return Ready(
        status="ready",
        index=IndexInfo(version=reader.version, built_at=reader.built_at),
        documents=counts["documents"],
        chunks=counts["chunks"],
        query_encoder=getattr(encoder, "backend", None),
    )
