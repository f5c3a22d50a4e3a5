"""The FastAPI application: lifespan loading, routes, and JSON errors for every failure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer import __version__
from indexer.embed import SentenceTransformerEmbedder
from indexer.errors import RagqaError
from service.answer import Answerer
from service.retrieval import Retriever
from service.routes import ask, documents, health
from service.settings import Settings

log = logging.getLogger("ragqa")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "not_ready",
}


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    code = code or _CODES.get(status, "error")
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def build_answerer(settings: Settings, embedder: SentenceTransformerEmbedder) -> Answerer:
    """Open the index and set up everything a query needs, once."""
    retriever = Retriever.open(
        settings.index_dir,
        embedder,
        candidates=settings.candidates,
        dense_weight=settings.dense_weight,
    )
    return Answerer(
        retriever,
        answer_threshold=settings.answer_threshold,
        coverage_weight=settings.coverage_weight,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        if app.state.embedder is None:
            app.state.embedder = SentenceTransformerEmbedder(settings.model or None)
        app.state.answerer = build_answerer(settings, app.state.embedder)
        log.info("serving index version %s", app.state.answerer.retriever.reader.version)
    except RagqaError as e:
        # Stay up so /healthz answers and /readyz explains why queries cannot be served.
        app.state.load_error = str(e)
        log.error("index not loaded: %s", e)
    yield
    if app.state.answerer is not None:
        app.state.answerer.retriever.reader.close()


def create_app(
    settings: Settings | None = None, embedder: SentenceTransformerEmbedder | None = None
) -> FastAPI:
    """Build the app; pass an already-loaded ``embedder`` to share one model between apps."""
    app = FastAPI(
        title="ragqa",
        version=__version__,
        summary="Question answering over a news corpus, with checkable citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings or Settings()
    app.state.embedder = embedder
    app.state.answerer = None
    app.state.load_error = None
    app.include_router(health.router)
    app.include_router(ask.router)
    app.include_router(documents.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx") or {}
        detail = f": {ctx['error']}" if "error" in ctx else ""
        return error_response(400, f"request body is not valid JSON{detail}", "invalid_json")
    return error_response(422, "; ".join(_describe(e) for e in errors))


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    if not loc:
        return (
            'request body must be a JSON object such as {"question": "..."}, '
            "sent with content-type: application/json"
        )
    where = ".".join(loc)
    message = f"{where}: {error.get('msg', 'invalid value')}"
    value = error.get("input")
    if error.get("type") == "missing":
        return f"{where}: field required"
    if isinstance(value, (int, float, bool)) or (isinstance(value, str) and len(value) <= 40):
        message += f", got {value!r}"
    elif isinstance(value, str):
        message += f", got {len(value)} characters"
    return message


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = error_response(exc.status_code, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; see the server log", "internal_error")
