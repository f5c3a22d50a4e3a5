"""`ragqa index`, `ragqa versions`, `ragqa rollback`: building and choosing index versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from indexer.choices import ENGINES, INDEX_TYPES, PRECISIONS

if TYPE_CHECKING:
    pass

from service.cli.common import (
    index_opt,
    make_embedder,
    make_settings,
    model_opt,
    ner_model_folder,
    progress_bar,
)


@click.command()
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
    help="Passage budget in model tokens. [env RAGQA_CHUNK_MAX_TOKENS; default: 192]",
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
    "--ner/--no-ner",
    default=None,
    help="Recognise each sentence's named entities (for typed and short answers). "
    "[env RAGQA_NER; default: on]",
)
@click.option(
    "--keep",
    "keep_versions",
    type=int,
    default=None,
    help="Index versions kept after the build. [env RAGQA_KEEP_VERSIONS; default: 3]",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=None,
    help="Where reading, cleaning, chunking and embedding run: here, or on a Ray cluster. "
    "[env RAGQA_ENGINE; default: local]",
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster to join; unset starts a local Ray. [env RAGQA_RAY_ADDRESS]",
)
@click.option(
    "--ray-workers",
    type=int,
    default=None,
    help="Actors that embed, and actors that recognise entities (each loads its model once). "
    "[env RAGQA_RAY_WORKERS; default: 1]",
)
@click.option(
    "--ray-batch-size",
    type=int,
    default=None,
    help="Texts per call to an embedding actor. [env RAGQA_RAY_BATCH_SIZE; default: 256]",
)
def index(full: bool, if_stale: bool, **options: Any) -> None:
    """Build the index from a corpus directory (the offline rebuild)."""
    from indexer.build import build_index
    from indexer.chunk import ChunkerSettings
    from indexer.embed import resolve_model
    from indexer.engines import RayOptions, make_engine
    from indexer.entities import EntityRecognizer
    from indexer.entities import model_name as entity_model_name
    from indexer.errors import SourceError
    from indexer.freshness import is_fresh

    settings = make_settings(**options)
    chunker = ChunkerSettings(
        max_tokens=settings.chunk_max_tokens, overlap_sentences=settings.chunk_overlap_sentences
    )
    source, out = settings.source_dir, settings.index_dir
    if not source.is_dir():
        raise SourceError(f"source directory {source} does not exist; pass --source DIR")
    model_name = resolve_model(settings.model or None)[0]
    ner_folder = ner_model_folder(settings)
    entity_model = entity_model_name(ner_folder) if ner_folder else None
    if if_stale and is_fresh(source, out, model_name, chunker, settings.index_type, entity_model):
        click.echo(f"index {out} is up to date with {source}", err=True)
        return
    entities = EntityRecognizer(ner_folder) if ner_folder else None
    embedder = make_embedder(settings)
    try:
        chunker.check(embedder.max_tokens)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    with make_engine(
        settings.engine,
        RayOptions(
            address=settings.ray_address,
            workers=settings.ray_workers,
            batch_size=settings.ray_batch_size,
            cpus_per_worker=settings.ray_cpus_per_worker,
            timeout_s=settings.ray_timeout,
        ),
    ) as engine:
        report = build_index(
            source,
            out,
            embedder,
            chunker,
            keep=settings.keep_versions,
            full=full,
            progress=progress_bar,
            index_type=settings.index_type,
            ivf_threshold=settings.ivf_threshold,
            entities=entities,
            engine=engine,
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
        from service.api.app import load_query_encoder

        load_query_encoder(settings, embedder)
    click.echo(
        f"indexed {report.documents} documents into {report.chunks} passages "
        f"({report.embedded} embedded, {report.reused} reused), {len(report.skipped)} skipped; "
        f"version {report.version} is now current in {out}"
    )


@click.command()
@index_opt
def versions(**options: Any) -> None:
    """List the index versions on disk, newest first; * marks the current one."""
    from indexer.versions import list_versions

    settings = make_settings(**options)
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


@click.command()
@index_opt
@click.option("--to", "version", default=None, help="Version to serve (default: the one before).")
def rollback(version: str | None, **options: Any) -> None:
    """Point index/current back at an earlier version; running servers pick it up."""
    from indexer.versions import rollback as do_rollback

    settings = make_settings(**options)
    chosen = do_rollback(settings.index_dir, version)
    click.echo(f"version {chosen} is now current in {settings.index_dir}")
