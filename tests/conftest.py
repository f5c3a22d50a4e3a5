"""Shared fixtures: the real bundled model, loaded once; a seed index, built once."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = ROOT / "eval" / "seed-questions.jsonl"
EXCLUSION_QUESTIONS = ROOT / "eval" / "exclusion-questions.jsonl"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's ./index or picks up their RAGQA_* settings."""
    for key in list(os.environ):
        if key.startswith("RAGQA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAGQA_SOURCE_DIR", str(tmp_path / "no-source"))


def with_precision(embedder, precision: str):  # type: ignore[no-untyped-def]
    """The session's model under another RAGQA_INDEX_PRECISION, decided afresh."""
    other = copy.copy(embedder)
    other.precision, other._corpus_precision = precision, None
    return other


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from indexer.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def entities():  # type: ignore[no-untyped-def]
    """The bundled entity recogniser, as `ragqa index` loads it by default."""
    from indexer.entities import EntityRecognizer, bundled_ner_path

    return EntityRecognizer(bundled_ner_path())


@pytest.fixture(scope="session")
def cross_encoder():  # type: ignore[no-untyped-def]
    """The bundled cross-encoder, as the service loads it by default."""
    from service.api.app import load_reranker_model
    from service.settings import Settings

    return load_reranker_model(Settings())


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embedder, entities) -> Path:  # type: ignore[no-untyped-def]
    """The seed corpus indexed once per session, as `ragqa index` does (entities included);
    tests must treat it as read-only."""
    from indexer.build import build_index

    out = tmp_path_factory.mktemp("seed-index")
    build_index(SEEDS, out, embedder, entities=entities)
    return out


@pytest.fixture(scope="session")
def float32_seed_index(request: pytest.FixtureRequest, embedder, entities) -> Path:  # type: ignore[no-untyped-def]
    """The seed corpus indexed in float32, read-only: for comparisons that need rankings equal
    across builds (in bfloat16, the default on a CPU with it, batches that differ move vectors by
    up to 6e-4 and may swap near-tied passages). The session's index where it is float32."""
    if embedder.corpus_precision == "float32":
        return request.getfixturevalue("seed_index")
    from indexer.build import build_index

    out = request.getfixturevalue("tmp_path_factory").mktemp("seed-index-float32")
    build_index(SEEDS, out, with_precision(embedder, "float32"), entities=entities)
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    yield target


@pytest.fixture(scope="session")
def retriever(seed_index: Path, embedder):  # type: ignore[no-untyped-def]
    from service.qa.retrieval import Retriever

    return Retriever.open(seed_index, embedder)


@pytest.fixture(scope="session")
def served_answerer(seed_index: Path, embedder, cross_encoder):  # type: ignore[no-untyped-def]
    """The answerer `ragqa serve` builds over the seed index with default settings (the
    reranking stage on)."""
    from service.api.app import build_answerer
    from service.settings import Settings

    return build_answerer(Settings(index_dir=seed_index), embedder, cross_encoder=cross_encoder)
