"""`ragqa serve`, `ragqa ask`, `ragqa mcp`: answering questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from service.settings import Settings

from service.cli.common import index_opt, make_embedder, make_settings, model_opt


@click.command()
@index_opt
@model_opt
@click.option("--host", default=None, help="Bind address. [env RAGQA_HOST; default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port. [env RAGQA_PORT; default: 8000]")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes. [env RAGQA_WORKERS; default: one per core with ONNX, 1 with torch]",
)
def serve(**options: Any) -> None:
    """Serve the HTTP API (and its docs at /docs)."""
    import logging.config
    import os

    import uvicorn

    from service.ops.logs import log_config

    # A query's numpy work is a few small products: BLAS threads would only spin on the cores
    # the encoder needs (measured: PyTorch encoder ~1.5 ms slower per query). Workers inherit it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    settings = make_settings(**options)
    logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
    workers = settings.workers or (
        (os.cpu_count() or 1) if settings.query_encoder != "torch" else 1
    )
    run = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(settings.log_level, settings.log_format),
        "access_log": False,  # the app logs each request itself, as JSON with its request id
    }
    if workers == 1:
        from service.api.app import build_answerer, create_app, start_encoder

        encoder = start_encoder(settings)
        # Fail here with a one-line message, not in the server.
        build_answerer(settings, encoder.encoder).retriever.reader.close()  # type: ignore[arg-type]
        uvicorn.run(create_app(settings, encoder=encoder), **run)  # type: ignore[arg-type]
        return
    if not settings.reload_interval:
        raise click.ClickException(
            "RAGQA_RELOAD_INTERVAL=0 turns off the index watcher that keeps several workers on "
            "the same version; set an interval or use --workers 1"
        )
    _serve_workers(settings, workers, options, run)


def _check_serving(settings: Settings) -> str | None:
    """Load the query encoder (exporting it if needed) and open the index; the error, if any.

    Runs in a child process, so that the parent of the workers stays small.
    """
    import logging.config

    from indexer.errors import RagqaError
    from service.api.app import build_answerer, load_query_encoder
    from service.ops.logs import log_config

    logging.config.dictConfig(log_config(settings.log_level, settings.log_format))
    try:
        build_answerer(settings, load_query_encoder(settings)).retriever.reader.close()
    except RagqaError as e:
        return str(e)
    return None


def _serve_workers(
    settings: Settings, workers: int, options: dict[str, Any], run: dict[str, Any]
) -> None:
    """Several uvicorn worker processes on one socket, sharing rate limits and metrics."""
    import multiprocessing
    import os
    import shutil
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    import uvicorn

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        error = pool.submit(_check_serving, settings).result()
    if error:
        raise click.ClickException(error)
    shared = Path(tempfile.mkdtemp(prefix="ragqa-serve-"))
    (shared / "metrics").mkdir()
    # Workers read their settings from the environment, as any RAGQA_ variable.
    overrides = {k: v for k, v in options.items() if v is not None}
    os.environ.update({f"RAGQA_{k.upper()}": str(v) for k, v in overrides.items()})
    os.environ.update(
        RAGQA_WORKERS=str(workers),
        RAGQA_SHARED_DIR=str(shared),
        PROMETHEUS_MULTIPROC_DIR=str(shared / "metrics"),
    )
    try:
        uvicorn.run("service.api.app:create_app", factory=True, workers=workers, **run)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@click.command()
@click.argument("question")
@index_opt
@model_opt
@click.option(
    "--top-k", type=click.IntRange(1, 50), default=5, show_default=True, help="Number of passages."
)
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON as POST /v1/ask.")
def ask(question: str, top_k: int, as_json: bool, **options: Any) -> None:
    """Answer QUESTION in-process and print ranked passages with citations."""
    from pydantic import ValidationError

    from service.api.app import build_answerer
    from service.render import render_answer
    from service.schemas import AskRequest

    try:
        request = AskRequest(question=question, top_k=top_k)
    except ValidationError as e:
        raise click.ClickException(f"question: {e.errors()[0]['msg']}") from e
    settings = make_settings(**options)
    answerer = build_answerer(settings, make_embedder(settings))
    response = answerer.ask(request)
    if as_json:
        click.echo(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
        return
    click.echo(render_answer(response, answerer.retriever.reader.document, detail=True).text)


@click.command(name="mcp")
@index_opt
@model_opt
def mcp_(**options: Any) -> None:
    """Serve the MCP tools (ask, get_document, list_documents) and document resources over stdio,
    for Claude Desktop, Claude Code and other clients that start a local process; a rebuilt index
    is served within the reload interval. Logs go to stderr; stdout is the protocol."""
    import logging

    from indexer.errors import RagqaError
    from service.api.app import build_answerer
    from service.api.mcp_tools import build_mcp
    from service.ops.limits import SearchSlots
    from service.ops.reload import Follower

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = make_settings(**options)
    try:
        embedder = make_embedder(settings)
    except RagqaError as e:
        # Serve anyway: every call then says why, which a client shows; an exit would not be.
        reason = str(e)
        click.echo(f"warning: {reason}", err=True)
        build_mcp(lambda: None, lambda: reason, SearchSlots(1)).run("stdio")
        return

    def load(previous: Any) -> Any:
        served = previous.reranker if previous is not None else None
        cross = served.cross_encoder if served is not None else None
        return build_answerer(settings, embedder, cross_encoder=cross)

    # Follows `current` like the HTTP server: a rebuild is served within the reload interval.
    follower = Follower(settings.index_dir, load, settings.reload_interval)
    follower.check()
    if follower.error:
        click.echo(f"warning: {follower.error}", err=True)
    if settings.reload_interval > 0:
        follower.start()
    slots = SearchSlots(settings.max_concurrent_searches)
    build_mcp(lambda: follower.answerer, lambda: follower.error or "not loaded", slots).run("stdio")
