"""The `ragqa` command: index, serve, ask, eval."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from indexer.choices import INDEX_TYPES, PRECISIONS

if TYPE_CHECKING:
    from service.settings import Settings


class _Group(click.Group):
    """Turns domain errors into a one-line message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from indexer.errors import RagqaError

        try:
            return super().invoke(ctx)
        except RagqaError as e:
            raise click.ClickException(str(e)) from e


def _settings(**overrides: Any) -> Settings:
    """Settings from RAGQA_* variables, with command-line options taking precedence."""
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        raise click.ClickException(f"invalid setting {first['loc'][0]}: {first['msg']}") from e


def _embedder(settings: Settings) -> Any:
    from indexer.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model or None, precision=settings.index_precision)


index_opt = click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Index directory. [env RAGQA_INDEX_DIR; default: index]",
)
model_opt = click.option(
    "--model",
    default=None,
    help="Sentence-transformers model directory. [env RAGQA_MODEL; default: bundled MiniLM]",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ragqa")
def main() -> None:
    """Question answering over a news corpus, with checkable citations."""


@main.command()
@click.option(
    "--source",
    "source_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Corpus directory to read. [env RAGQA_SOURCE_DIR; default: seeds]",
)
@click.option(
    "--out",
    "index_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Index directory to write. [env RAGQA_INDEX_DIR; default: index]",
)
@model_opt
@click.option(
    "--full", is_flag=True, help="Re-embed every passage instead of reusing unchanged ones."
)
@click.option(
    "--if-stale", is_flag=True, help="Do nothing when the index already matches the source."
)
@click.option(
    "--max-tokens",
    "chunk_max_tokens",
    type=int,
    default=None,
    help="Passage budget in model tokens. [env RAGQA_CHUNK_MAX_TOKENS; default: 128]",
)
@click.option(
    "--overlap",
    "chunk_overlap_sentences",
    type=int,
    default=None,
    help="Sentences repeated between passages. [env RAGQA_CHUNK_OVERLAP_SENTENCES; default: 1]",
)
@click.option(
    "--index-type",
    type=click.Choice(INDEX_TYPES),
    default=None,
    help="Vector index: flat (exact), ivf (IVF-SQ8), or auto by corpus size. "
    "[env RAGQA_INDEX_TYPE; default: auto]",
)
@click.option(
    "--precision",
    "index_precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Arithmetic of the batch encoding. [env RAGQA_INDEX_PRECISION; default: auto]",
)
@click.option(
    "--keep",
    "keep_versions",
    type=int,
    default=None,
    help="Index versions kept after the build. [env RAGQA_KEEP_VERSIONS; default: 3]",
)
def index(full: bool, if_stale: bool, **options: Any) -> None:
    """Build the index from a corpus directory (the offline rebuild)."""
    from indexer.build import build_index, is_fresh
    from indexer.chunk import ChunkerSettings
    from indexer.embed import resolve_model
    from indexer.errors import SourceError

    settings = _settings(**options)
    chunker = ChunkerSettings(
        max_tokens=settings.chunk_max_tokens, overlap_sentences=settings.chunk_overlap_sentences
    )
    source, out = settings.source_dir, settings.index_dir
    if not source.is_dir():
        raise SourceError(f"source directory {source} does not exist; pass --source DIR")
    model_name = resolve_model(settings.model or None)[0]
    if if_stale and is_fresh(source, out, model_name, chunker, settings.index_type):
        click.echo(f"index {out} is up to date with {source}", err=True)
        return
    embedder = _embedder(settings)
    try:
        chunker.check(embedder.max_tokens)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    report = build_index(
        source,
        out,
        embedder,
        chunker,
        keep=settings.keep_versions,
        full=full,
        progress=_progress_bar,
        index_type=settings.index_type,
        ivf_threshold=settings.ivf_threshold,
    )
    for skipped in report.skipped:
        click.echo(f"skipped {skipped.path}: {skipped.reason}", err=True)
    for warning in report.warnings:
        click.echo(f"warning {warning.path}: {warning.reason}", err=True)
    if report.full_reason:
        click.echo(f"full rebuild: {report.full_reason}")
    click.echo(
        f"documents: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged; "
        f"{report.documents_embedded} embedded"
    )
    if settings.query_encoder != "torch":
        # Prepare the server's ONNX query encoder now, while the index directory is writable
        # (a failure is logged, and the server will encode with PyTorch).
        from service.app import load_query_encoder

        load_query_encoder(settings, embedder)
    click.echo(
        f"indexed {report.documents} documents into {report.chunks} passages "
        f"({report.embedded} embedded, {report.reused} reused), {len(report.skipped)} skipped; "
        f"version {report.version} is now current in {out}"
    )


def _progress_bar(total: int, label: str, unit: str = "passage") -> Any:
    """A tqdm bar on a terminal; silent otherwise."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit=unit, disable=not sys.stderr.isatty())
    return bar.update


@main.command()
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

    from service.logs import log_config

    # A query's numpy work is a few small products: BLAS threads would only spin on the cores
    # the encoder needs (measured: PyTorch encoder ~1.5 ms slower per query). Workers inherit it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    settings = _settings(**options)
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
        from service.app import build_answerer, create_app, start_encoder

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
    from service.app import build_answerer, load_query_encoder
    from service.logs import log_config

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
        uvicorn.run("service.app:create_app", factory=True, workers=workers, **run)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@main.command()
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

    from service.app import build_answerer
    from service.schemas import AskRequest

    try:
        request = AskRequest(question=question, top_k=top_k)
    except ValidationError as e:
        raise click.ClickException(f"question: {e.errors()[0]['msg']}") from e
    settings = _settings(**options)
    response = build_answerer(settings, _embedder(settings)).ask(request)
    if as_json:
        click.echo(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
        return
    if response.answer is None:
        click.echo("Answer: not found in the corpus (closest passages below)\n")
    else:
        cites = ", ".join(f"{c.doc_id} [{c.start}:{c.end}]" for c in response.answer.citations)
        click.echo(f"Answer ({response.answer.confidence:.2f}): {response.answer.text}")
        click.echo(f"    from {cites}\n")
    for p in response.passages:
        date = f", {p.published}" if p.published else ""
        click.echo(f"[{p.rank}] {p.title} ({p.source}{date}) score {p.score:.3f}")
        click.echo(f"    {p.doc_id} [{p.start}:{p.end}]")
        for also in p.also_in:
            click.echo(f"    also in {also.doc_id} [{also.start}:{also.end}] ({also.source})")
        click.echo(
            click.wrap_text(
                p.text,
                width=100,
                initial_indent="    ",
                subsequent_indent="    ",
                preserve_paragraphs=True,
            )
        )
        click.echo()


@main.command(name="mcp")
@index_opt
@model_opt
def mcp_(**options: Any) -> None:
    """Serve the MCP tools (ask, get_document) over stdio, for Claude Desktop, Claude Code and
    other clients that start a local process. Logs go to stderr; stdout is the protocol."""
    import logging

    from indexer.errors import RagqaError
    from service.app import build_answerer
    from service.mcp_tools import build_mcp

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = _settings(**options)
    answerer, error = None, None
    try:
        answerer = build_answerer(settings, _embedder(settings))
    except RagqaError as e:
        # Serve anyway: every call then says why, which a client shows; an exit would not be.
        error = str(e)
        click.echo(f"warning: {error}", err=True)
    build_mcp(lambda: answerer, lambda: error or "not loaded").run("stdio")


@main.command(name="eval")
@click.option(
    "--questions",
    type=click.Path(path_type=Path),
    default=None,
    help="Question file (JSONL: id, question, answers, docs) to run against the index.",
)
@click.option(
    "--beir",
    type=click.Path(path_type=Path),
    default=None,
    help="BEIR dataset directory (corpus.jsonl, queries.jsonl, qrels/test.tsv) to index and score.",
)
@index_opt
@model_opt
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def eval_(questions: Path | None, beir: Path | None, as_json: bool, **options: Any) -> None:
    """Measure retrieval quality: dense, lexical and hybrid side by side."""
    if (questions is None) == (beir is None):
        raise click.UsageError("give exactly one of --questions FILE or --beir DIR")
    settings = _settings(**options)
    if questions is not None:
        from service.app import build_answerer
        from service.evaluate import QUALITY_METRICS, evaluate_pipeline, load_questions

        qs = load_questions(questions)
        results = evaluate_pipeline(build_answerer(settings, _embedder(settings)), qs)
        report: dict[str, Any] = {"questions": str(questions), "results": results}
        columns = [*QUALITY_METRICS, "latency_ms_p50", "latency_ms_p95"]
    else:
        assert beir is not None
        from indexer.build import build_index
        from indexer.chunk import ChunkerSettings
        from service.app import build_answerer
        from service.beir import evaluate_beir

        embedder = _embedder(settings)
        chunker = ChunkerSettings(
            max_tokens=settings.chunk_max_tokens,
            overlap_sentences=settings.chunk_overlap_sentences,
        )
        report = evaluate_beir(
            beir,
            build=lambda src, out: build_index(src, out, embedder, chunker, progress=_progress_bar),
            open_answerer=lambda out: build_answerer(
                settings.model_copy(update={"index_dir": out}), embedder
            ),
            progress=lambda total, label: _progress_bar(total, label, unit="query"),
        )
        for skipped in report["skipped"]:
            click.echo(f"skipped {skipped}", err=True)
        click.echo(
            f"{report['documents']} documents ({len(report['skipped'])} skipped) in "
            f"{report['passages']} passages, {report['queries']} queries",
            err=True,
        )
        results = report["results"]
        columns = ["ndcg@10", "recall@10", "recall@100", "latency_ms_p50"]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{'retriever':<10}" + "".join(f"{c:>20}" for c in columns))
    for mode, metrics in results.items():
        cells = ["-" if metrics[c] is None else f"{metrics[c]:.4g}" for c in columns]
        click.echo(f"{mode:<10}" + "".join(f"{v:>20}" for v in cells))


@main.command()
@index_opt
def versions(**options: Any) -> None:
    """List the index versions on disk, newest first; * marks the current one."""
    from indexer.store import list_versions

    settings = _settings(**options)
    rows = list_versions(settings.index_dir)
    if not rows:
        raise click.ClickException(f"no index versions in {settings.index_dir}")
    for version, is_current, manifest in rows:
        counts = manifest["counts"] if manifest else {}
        detail = (
            f"{counts.get('documents')} documents, {counts.get('chunks')} passages"
            if manifest
            else "unreadable"
        )
        click.echo(f"{'*' if is_current else ' '} {version}  {detail}")


@main.command()
@index_opt
@click.option("--to", "version", default=None, help="Version to serve (default: the one before).")
def rollback(version: str | None, **options: Any) -> None:
    """Point index/current back at an earlier version; running servers pick it up."""
    from indexer.store import rollback as do_rollback

    settings = _settings(**options)
    chosen = do_rollback(settings.index_dir, version)
    click.echo(f"version {chosen} is now current in {settings.index_dir}")
