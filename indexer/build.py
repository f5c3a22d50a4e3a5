"""The offline build: load → clean → chunk → embed → store, reusing unchanged embeddings."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer import __version__
from indexer.chunk import ChunkerSettings
from indexer.embed import SentenceTransformerEmbedder
from indexer.engines import Engine, LocalEngine
from indexer.entities import Entity, EntityRecognizer, recognise_new
from indexer.errors import SourceError
from indexer.freshness import corpus_fingerprint
from indexer.models import Chunk, Document, SentenceSpan, Skipped
from indexer.reader import IndexReader
from indexer.store import (
    FORMAT_VERSION,
    IVF_THRESHOLD,
    VersionData,
    build_lock,
    choose_index_type,
    current_manifest,
    prune,
    switch_current,
    text_hash,
    write_version,
)

ProgressFactory = Callable[[int, str], Callable[[int], None]]


@dataclass
class BuildReport:
    version: str
    path: Path
    documents: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)  # indexed, with a field dropped
    pruned: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    documents_embedded: int = 0
    full_reason: str | None = None  # why nothing was reused, when that was forced
    recognised: int = 0  # sentences whose entities were recognised (not reused)


def embedding_input(title: str, text: str, title_words: int = 24) -> str:
    """What is embedded for a passage: its document's headline, then the passage.

    The headline gives a passage that never names its subject ("He left in January") the
    context it needs to match a question about that subject.
    """
    words = title.split()
    head = " ".join(words[:title_words])
    # A document without a headline is titled by its opening words, cut with an ellipsis.
    opening = head.removesuffix("…")
    return f"{head}\n{text}" if head and not text.startswith(opening) else text


def build_index(
    source: Path,
    out: Path,
    embedder: SentenceTransformerEmbedder,
    chunker_settings: ChunkerSettings | None = None,
    keep: int = 3,
    full: bool = False,
    progress: ProgressFactory | None = None,
    index_type: str = "auto",
    ivf_threshold: int = IVF_THRESHOLD,
    entities: EntityRecognizer | None = None,
    engine: Engine | None = None,
) -> BuildReport:
    """Build a new index version from ``source`` and make it current; ``entities`` recognises
    each sentence's named entities (none are stored without it). ``engine`` reads, cleans,
    chunks and embeds (default: in this process); the rest runs here, whichever it is."""
    engine = engine or LocalEngine()
    settings = chunker_settings or ChunkerSettings()
    settings.check(embedder.max_tokens)
    entity_model = entities.name if entities is not None else None
    with build_lock(out):
        fingerprint = corpus_fingerprint(source, embedder.name, settings, index_type, entity_model)
        loaded, prepared = engine.prepare(source, settings, embedder)
        skipped = list(loaded.skipped)
        documents: list[Document] = []
        chunks: list[Chunk] = []
        sentences: list[SentenceSpan] = []
        for item in prepared:
            if isinstance(item, Skipped):
                skipped.append(item)
                continue
            documents.append(item.doc)
            chunks.extend(item.chunks)
            sentences.extend(SentenceSpan(item.doc.doc_id, start, end) for start, end in item.spans)
        if not documents:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3])
            raise SourceError(f"no indexable documents in {source} ({reasons})")
        texts = {doc.doc_id: doc.text for doc in documents}
        titles = {doc.doc_id: doc.title for doc in documents}
        chunk_inputs = [embedding_input(titles[c.doc_id], c.text) for c in chunks]
        sentence_inputs = [texts[s.doc_id][s.start : s.end] for s in sentences]
        headline_inputs = [doc.title for doc in documents]
        chunk_hashes = [text_hash(text) for text in chunk_inputs]
        sentence_hashes = [text_hash(text) for text in sentence_inputs]
        headline_hashes = [text_hash(text) for text in headline_inputs]

        previous = current_manifest(out)
        full_reason = "--full" if full else _full_rebuild_reason(previous, embedder, settings)
        reuse_entities = (
            previous is not None
            and not full_reason
            and entity_model is not None
            and (previous.get("entities") or {}).get("model") == entity_model
        )
        before, cache, entity_cache = (
            _previous_version(out, reuse=not full_reason, entities=reuse_entities)
            if previous
            else ({}, {}, {})
        )
        after = {doc.doc_id: doc.content_hash for doc in documents}
        todo = [i for i, h in enumerate(chunk_hashes) if h not in cache]
        todo_s = [i for i, h in enumerate(sentence_hashes) if h not in cache]
        # A headline is often its document's first sentence too: embedded once, as that (only
        # such sentences are looked up, so a full build holds no map of every sentence).
        titles_set = set(headline_hashes)
        as_sentence: dict[str, int] = {}
        for i in todo_s:
            if sentence_hashes[i] in titles_set:
                as_sentence.setdefault(sentence_hashes[i], i)
        todo_h = [
            i for i, h in enumerate(headline_hashes) if h not in cache and h not in as_sentence
        ]
        tick = progress(len(todo) + len(todo_s) + len(todo_h), "embedding") if progress else None
        # Only text with no stored vector goes to the engine (an incremental build on a cluster
        # ships only the new text), passages, sentences and headlines in one call.
        fresh = engine.encode(
            [chunk_inputs[i] for i in todo]
            + [sentence_inputs[i] for i in todo_s]
            + [headline_inputs[i] for i in todo_h],
            embedder,
            tick,
        )
        split = (len(todo), len(todo) + len(todo_s))
        vectors = _with_cached(fresh[: split[0]], chunk_hashes, todo, cache, embedder.dimension)
        sentence_vectors = _with_cached(
            fresh[split[0] : split[1]], sentence_hashes, todo_s, cache, embedder.dimension
        )
        headline_vectors = _with_cached(
            fresh[split[1] :],
            headline_hashes,
            todo_h,
            ChainMap(cache, {h: sentence_vectors[i] for h, i in as_sentence.items()}),
            embedder.dimension,
        )
        found, recognised = (
            recognise_new(
                entities,
                sentence_inputs,
                sentence_hashes,
                entity_cache,
                progress,
                lambda texts, tick: engine.recognise(texts, entities, tick),
            )
            if entities is not None
            else (None, 0)
        )
        store = VersionData(
            documents,
            chunks,
            chunk_hashes,
            vectors,
            sentences,
            sentence_hashes,
            sentence_vectors,
            headline_vectors,
            sentence_entities=found,
        )

        kind = choose_index_type(len(chunks), index_type, ivf_threshold)
        built_at = datetime.now(UTC)
        manifest = _manifest(
            built_at,
            fingerprint,
            source,
            embedder,
            settings,
            documents,
            chunks,
            sentences,
            skipped,
            embedded=len(todo) + len(todo_s),
            index_type=kind,
            entity_model=entity_model,
        )
        version_dir = write_version(out, manifest, store)
        switch_current(out, version_dir)
        pruned = prune(out, keep)
    return BuildReport(
        added=sorted(set(after) - set(before)),
        changed=sorted(d for d in after if d in before and before[d] != after[d]),
        removed=sorted(set(before) - set(after)),
        unchanged=sum(1 for d in after if before.get(d) == after[d]),
        documents_embedded=len(
            {chunks[i].doc_id for i in todo} | {sentences[i].doc_id for i in todo_s}
        ),
        recognised=recognised,
        full_reason=full_reason,
        version=manifest["build_id"],
        path=version_dir,
        documents=len(documents),
        chunks=len(chunks),
        sentences=len(sentences),
        embedded=len(todo),
        reused=len(chunks) - len(todo),
        skipped=skipped,
        warnings=list(loaded.warnings),
        pruned=pruned,
    )


def _with_cached(
    fresh: np.ndarray,
    hashes: list[str],
    todo: list[int],
    cache: Mapping[str, np.ndarray],
    dimension: int,
) -> np.ndarray:
    """Vectors for every text: the ``todo`` ones just embedded (``fresh``), the rest reused."""
    vectors = np.zeros((len(hashes), dimension), dtype=np.float32)
    for row, i in enumerate(todo):
        vectors[i] = fresh[row]
    for i, h in enumerate(hashes):
        if h in cache:
            vectors[i] = cache[h]
    return vectors


def _full_rebuild_reason(
    manifest: dict[str, Any] | None,
    embedder: SentenceTransformerEmbedder,
    settings: ChunkerSettings,
) -> str | None:
    """Why the current version's embeddings cannot be reused, or None when they can."""
    if manifest is None:
        return None
    model = manifest["model"]
    probe = np.asarray(model["probe"], dtype=np.float32)
    if (
        model["name"] != embedder.name
        or model["dimension"] != embedder.dimension
        or probe.shape != embedder.probe.shape
        or float(probe @ embedder.probe) < 0.99
    ):
        return f"the embedding model changed ({model['name']} -> {embedder.name})"
    old = {k: manifest["chunker"].get(k) for k in settings.as_dict()}
    if old != settings.as_dict():
        return f"the chunker settings changed ({old} -> {settings.as_dict()})"
    return None


def _previous_version(
    out: Path, reuse: bool, entities: bool = False
) -> tuple[dict[str, str], dict[str, np.ndarray], dict[str, list[Entity]]]:
    """The current version's document hashes and, when ``reuse``, its embeddings by text hash
    (and, with ``entities``, its sentences' entities by text hash)."""
    reader = IndexReader(out)
    try:
        return (
            reader.document_hashes(),
            reader.vectors_by_hash() if reuse else {},
            reader.entities_by_hash() if entities else {},
        )
    finally:
        reader.close()


def _manifest(
    built_at: datetime,
    fingerprint: str,
    source: Path,
    embedder: SentenceTransformerEmbedder,
    settings: ChunkerSettings,
    documents: list[Document],
    chunks: list[Chunk],
    sentences: list[SentenceSpan],
    skipped: list[Skipped],
    embedded: int,
    index_type: str = "flat",
    entity_model: str | None = None,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "build_id": f"{built_at:%Y%m%dT%H%M%S%fZ}-{fingerprint[:8]}",
        "built_at": built_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "model": {
            "name": embedder.name,
            "dimension": embedder.dimension,
            "max_seq_length": embedder.max_seq_length,
            "precision": embedder.corpus_precision,
            "probe": [round(float(x), 6) for x in embedder.probe],
        },
        "chunker": settings.as_dict()
        | {"tokenizer": "model", "sentence_splitter": "pysbd", "embedded_with_title": True},
        "vectors": {"faiss_index": index_type, "metric": "cosine"},
        # Named entities of each sentence (entities table), or null when none were recognised.
        "entities": {"model": entity_model} if entity_model else None,
        "corpus": {"source": str(source), "fingerprint": fingerprint},
        "counts": {
            "documents": len(documents),
            "chunks": len(chunks),
            "sentences": len(sentences),
            "skipped": len(skipped),
            "embedded": embedded,
            "reused": len(chunks) + len(sentences) - embedded,
        },
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
    }
