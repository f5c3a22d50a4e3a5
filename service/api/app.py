"""The FastAPI application: lifespan loading, routes, and JSON errors for every failure."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from indexer import __version__
from indexer.embed import SentenceTransformerEmbedder
from indexer.errors import RagqaError
from indexer.onnx_encoder import QueryEncoder, load_onnx_encoder, open_onnx_encoder
from indexer.store import MANIFEST
from service.api.deps import rate_limit, require_admin_key, require_api_key, search_slot
from service.api.errors import error_response
from service.api.mcp_tools import Guarded, build_mcp
from service.api.middleware import RequestMiddleware
from service.api.routes import admin, ask, chat, documents, health, page
from service.chat.generator import Generator
from service.ops.batching import BatchingEncoder
from service.ops.limits import RateLimiter, SearchSlots, SharedRateLimiter
from service.ops.metrics import Metrics, Observe
from service.ops.reload import Reloader
from service.qa.answer import Answerer
from service.qa.bundled import RERANKER_FILES, bundled_reranker_path
from service.qa.cross_encoder import CrossEncoder, load_cross_encoder
from service.qa.rerank import Reranker
from service.qa.retrieval import Retriever
from service.settings import Settings

log = logging.getLogger("ragqa")


def build_answerer(
    settings: Settings,
    embedder: QueryEncoder,
    observe: Observe | None = None,
    encoder: BatchingEncoder | None = None,
    cross_encoder: CrossEncoder | None = None,
) -> Answerer:
    """Open the index and set up everything a query needs, once.

    ``embedder`` identifies the model (checked against the index) and encodes questions unless a
    batching ``encoder`` does. ``cross_encoder`` is the reranker's model, when one is already
    loaded (a reload keeps it); else it is loaded as the settings say.
    """
    retriever = Retriever.open(
        settings.index_dir,
        embedder,
        candidates=settings.candidates,
        dense_weight=settings.dense_weight,
        observe=observe,
        nprobe=settings.nprobe,
        encoder=encoder,
        inflections=settings.reranker,
    )
    reranker = None
    if settings.reranker:
        try:
            reranker = Reranker(
                cross_encoder or load_reranker_model(settings),
                retriever.reader,
                windows=settings.reranker_windows,
            )
        except BaseException:
            retriever.reader.close()
            raise
    return Answerer(
        retriever,
        answer_threshold=settings.answer_threshold,
        coverage_weight=settings.coverage_weight,
        evidence_weight=settings.evidence_weight,
        centroid_weight=settings.centroid_weight,
        inflections=settings.reranker,
        reranker=reranker,
        reranker_threshold=settings.reranker_threshold,
    )


def load_reranker_model(settings: Settings) -> CrossEncoder:
    """The cross-encoder RAGQA_RERANKER_MODEL names; the bundled one is checked by sha256."""
    if settings.reranker_model:
        folder, pin = Path(settings.reranker_model).expanduser(), None
    else:
        folder, pin = bundled_reranker_path(), RERANKER_FILES["model.onnx"]
    threads = settings.reranker_threads or os.cpu_count() or 1
    return load_cross_encoder(
        folder,
        threads=threads,
        spin=settings.reranker_spin,
        sha256_pin=pin,
        spin_us=settings.reranker_spin_us,
    )


def onnx_dir(index_dir: Path) -> Path:
    """Where ONNX exports live: beside the index versions, so a build can prepare them."""
    root = index_dir.parent.parent if (index_dir / MANIFEST).is_file() else index_dir
    return root / "onnx"


def load_query_encoder(
    settings: Settings, embedder: SentenceTransformerEmbedder | None = None
) -> QueryEncoder:
    """The encoder for questions: ONNX when its export loads and agrees with PyTorch, else PyTorch.

    Loading an existing export imports neither PyTorch nor sentence-transformers; a missing one is
    exported first (with ``embedder`` when given). Call it on the thread that will encode.
    """
    if settings.query_encoder != "torch":
        shared = onnx_dir(settings.index_dir)
        # An export in the index root is used even where this process cannot write (an image's
        # non-root user over the root built into it); a missing one is exported there, or in a
        # temporary folder when the root is read-only.
        writable = os.access(shared if shared.exists() else shared.parent, os.W_OK)
        model = str(embedder.path) if embedder is not None else settings.model or None
        threads = settings.query_threads or 1
        # INT8 when it agrees with PyTorch, else float32, else PyTorch itself.
        for int8 in [True, False] if settings.query_encoder == "onnx-int8" else [False]:
            try:
                folder = shared
                encoder = open_onnx_encoder(model, folder, int8, threads)
                if encoder is None and not writable:
                    folder = Path(tempfile.gettempdir()) / "ragqa-onnx"
                    encoder = open_onnx_encoder(model, folder, int8, threads)
                if encoder is None:
                    log.info("exporting the query encoder to ONNX in %s", folder)
                    embedder = embedder or SentenceTransformerEmbedder(model)
                    encoder = load_onnx_encoder(embedder, folder, int8, threads)
                return encoder
            except (RagqaError, ImportError, OSError) as e:
                log.error("ONNX query encoder%s not used: %s", " (INT8)" if int8 else "", e)
    import torch

    from indexer.torch_encoder import torch_query_encoder

    torch.set_num_threads(settings.query_threads or os.cpu_count() or 1)
    return torch_query_encoder(embedder or SentenceTransformerEmbedder(settings.model or None))


def start_encoder(
    settings: Settings, embedder: SentenceTransformerEmbedder | None = None
) -> BatchingEncoder:
    """Load the query encoder on its own thread and start the encoder threads."""
    cores = os.cpu_count() or 1
    return BatchingEncoder(
        loader=lambda: load_query_encoder(settings, embedder),
        workers=settings.encoder_workers or max(1, cores // (settings.workers or 1)),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    try:
        if app.state.encoder is None:
            app.state.encoder = start_encoder(settings, app.state.embedder)
        app.state.answerer = build_answerer(
            settings, app.state.encoder.encoder, app.state.metrics.observe, app.state.encoder
        )
        app.state.metrics.set_index(app.state.answerer)
        log.info("serving index version %s", app.state.answerer.retriever.reader.version)
    except RagqaError as e:
        # Stay up so /healthz answers and /readyz explains why queries cannot be served.
        app.state.load_error = str(e)
        log.error("index not loaded: %s", e)
    async with httpx.AsyncClient() as client:
        if settings.llm_base_url:
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            app.state.generator = Generator(
                client,
                settings.llm_base_url,
                settings.llm_model,
                api_key=key,
                timeout=settings.llm_timeout,
                total_timeout=settings.llm_total_timeout,
            )
            log.info(
                "answers are generated by %s (model %s)", settings.llm_base_url, settings.llm_model
            )
        watcher = None
        if settings.reload_interval > 0 and not (settings.index_dir / MANIFEST).is_file():
            watcher = asyncio.create_task(app.state.reloader.watch(settings.reload_interval))
        try:
            async with app.state.mcp.session_manager.run():
                yield
        finally:
            if watcher is not None:
                watcher.cancel()
    if app.state.answerer is not None:
        app.state.answerer.retriever.reader.close()


def create_app(
    settings: Settings | None = None,
    embedder: SentenceTransformerEmbedder | None = None,
    encoder: BatchingEncoder | None = None,
) -> FastAPI:
    """Build the app; pass an already-loaded ``embedder`` to share one model between apps (it
    exports the ONNX encoder if needed, or is the query encoder with RAGQA_QUERY_ENCODER=torch), or
    a started ``encoder`` to use as it is."""
    app = FastAPIOffline(
        redoc_url=None,  # ReDoc loads its logo from a CDN; /docs (Swagger UI) needs nothing outside
        title="ragqa",
        version=__version__,
        summary="Question answering over a news corpus, with checkable citations.",
        lifespan=lifespan,
    )
    app.state.settings = settings or Settings()
    app.state.embedder = embedder
    app.state.answerer = None
    app.state.encoder = encoder
    app.state.generator = None
    app.state.load_error = None
    settings = app.state.settings
    app.state.metrics = Metrics()
    app.state.reloader = Reloader(app, build_answerer)
    app.state.search_slots = SearchSlots(settings.max_concurrent_searches)
    app.state.rate_limiter = None
    if settings.rate_limit_per_minute and settings.shared_dir:
        app.state.rate_limiter = SharedRateLimiter(
            settings.shared_dir / "rate-limits.sqlite", settings.rate_limit_per_minute
        )
    elif settings.rate_limit_per_minute:
        app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    protected = [Depends(require_api_key), Depends(rate_limit)]
    searching = [*protected, Depends(search_slot)]
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(ask.router, dependencies=searching)
    app.include_router(documents.router, dependencies=protected)
    app.include_router(chat.router, dependencies=searching)
    app.include_router(admin.router, dependencies=[Depends(require_admin_key)])
    app.include_router(admin.metrics_router, dependencies=[Depends(require_api_key)])
    app.mount("/static", StaticFiles(directory=page.STATIC), name="static")
    # MCP over streamable HTTP, stateless so that any worker can answer any call.
    # MCP's `ask` takes the same search slots as HTTP searches, so an agent cannot starve them.
    app.state.mcp = build_mcp(
        lambda: app.state.answerer,
        lambda: app.state.load_error or "the index is still loading",
        app.state.search_slots,
        lambda: app.state.metrics.rejected.labels(reason="saturated").inc(),
    )
    mcp_http = app.state.mcp.streamable_http_app(
        streamable_http_path="/mcp", stateless_http=True, json_response=True, host=settings.host
    )
    app.router.routes.append(
        Route(
            "/mcp",
            Guarded(mcp_http, [require_api_key, rate_limit]),
            methods=["GET", "POST", "DELETE"],
            include_in_schema=False,
        )
    )
    app.add_middleware(
        RequestMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes
    )
    if app.state.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=app.state.settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )

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
    response = error_response(exc.status_code, str(exc.detail), getattr(exc, "code", None))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal error; see the server log", "internal_error")
