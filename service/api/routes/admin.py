"""Operator endpoints: reload the index, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from indexer.errors import RagqaError
from service.schemas import ErrorResponse

router = APIRouter(tags=["operations"])  # needs an admin key
metrics_router = APIRouter(tags=["operations"])  # needs an ordinary API key, like a scraper has


class ReloadResponse(BaseModel):
    status: str
    version: str
    previous: str | None


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    responses={409: {"model": ErrorResponse}},
    summary="Serve the version index/current points at now (also done by the watcher)",
)
async def reload(request: Request) -> ReloadResponse:
    reloader = request.app.state.reloader
    try:
        result = await run_in_threadpool(reloader.reload)
    except RagqaError as e:
        served = request.app.state.answerer
        still = served.retriever.reader.version if served else "nothing"
        raise HTTPException(
            status_code=409, detail=f"reload refused, still serving {still}: {e}"
        ) from e
    return ReloadResponse(status=result.status, version=result.version, previous=result.previous)


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
