"""`ragqa eval`: question files and BEIR-format datasets through the full pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass

from service.cli.common import index_opt, make_embedder, make_settings, model_opt, progress_bar


@click.command(name="eval")
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
@click.option(
    "--mode",
    type=click.Choice(["all", "hybrid", "dense", "lexical"]),
    default="all",
    show_default=True,
    help="Retrievers to measure: all side by side, or one (hybrid is what the service serves).",
)
@index_opt
@model_opt
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def eval_(
    questions: Path | None, beir: Path | None, mode: str, as_json: bool, **options: Any
) -> None:
    """Measure retrieval and answer quality: dense, lexical and hybrid side by side, and per kind
    of question when the file gives kinds."""
    if (questions is None) == (beir is None):
        raise click.UsageError("give exactly one of --questions FILE or --beir DIR")
    settings = make_settings(**options)
    if questions is not None:
        from service.api.app import build_answerer
        from service.eval.evaluate import QUALITY_METRICS, evaluate_pipeline, load_questions

        qs = load_questions(questions)
        modes = None if mode == "all" else (mode,)
        answerer = build_answerer(settings, make_embedder(settings))
        results = evaluate_pipeline(answerer, qs, modes=modes)
        report: dict[str, Any] = {"questions": str(questions), "results": results}
        columns = [*QUALITY_METRICS, "latency_ms_p50", "latency_ms_p95"]
    else:
        assert beir is not None
        from indexer.build import build_index
        from indexer.chunk import ChunkerSettings
        from service.api.app import build_answerer
        from service.eval.beir import evaluate_beir

        embedder = make_embedder(settings)
        chunker = ChunkerSettings(
            max_tokens=settings.chunk_max_tokens,
            overlap_sentences=settings.chunk_overlap_sentences,
        )
        report = evaluate_beir(
            beir,
            build=lambda src, out: build_index(src, out, embedder, chunker, progress=progress_bar),
            open_answerer=lambda out: build_answerer(
                settings.model_copy(update={"index_dir": out}), embedder
            ),
            progress=lambda total, label: progress_bar(total, label, unit="query"),
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
    _table("retriever", results, columns)
    served = results.get("hybrid", {})
    if "by_kind" in served:
        click.echo("\nhybrid, per kind of question:")
        _table("kind", served["by_kind"], ["questions", *columns[:-2]])


def _table(label: str, rows: dict[str, dict[str, Any]], columns: list[str]) -> None:
    width = max(10, *(len(name) + 2 for name in rows))
    click.echo(f"{label:<{width}}" + "".join(f"{c:>18}" for c in columns))
    for name, metrics in rows.items():
        cells = ["-" if metrics.get(c) is None else f"{metrics[c]:.4g}" for c in columns]
        click.echo(f"{name:<{width}}" + "".join(f"{v:>18}" for v in cells))
