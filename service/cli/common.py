"""What every `ragqa` command shares: settings, the model, common options, errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from service.settings import Settings


class Group(click.Group):
    """Turns domain errors into a one-line message and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from indexer.errors import RagqaError

        try:
            return super().invoke(ctx)
        except RagqaError as e:
            raise click.ClickException(str(e)) from e


def make_settings(**overrides: Any) -> Settings:
    """Settings from RAGQA_* variables, with command-line options taking precedence."""
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        raise click.ClickException(f"invalid setting {first['loc'][0]}: {first['msg']}") from e


def make_embedder(settings: Settings) -> Any:
    from indexer.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model or None, precision=settings.index_precision)


def ner_model_folder(settings: Settings) -> Path | None:
    """The spaCy pipeline the build recognises entities with, or None with RAGQA_NER=off."""
    if not settings.ner:
        return None
    from indexer.entities import resolve_ner_model

    return resolve_ner_model(settings.ner_model)


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


def progress_bar(total: int, label: str, unit: str = "passage") -> Any:
    """A tqdm bar on a terminal; silent otherwise."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit=unit, disable=not sys.stderr.isatty())
    return bar.update
