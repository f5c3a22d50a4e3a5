"""A complete index version at any size, written without the model: the scale bench's corpus.

Text comes from a Zipfian vocabulary (the function words first, a few very common content words
among them, then made-up words), so posting lists have the shape of a news archive's: a handful of
terms in half the passages, a long tail in a few. Vectors are random unit vectors around clusters
(what IVF sees in real embeddings). Everything else (documents, passages, sentence spans, FTS5,
lexical index, centrality, manifest) is written by ``indexer.store.write_version``, the build's own
writer, so the server opens it as it opens any build.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from indexer.build import _manifest
from indexer.chunk import ChunkerSettings
from indexer.models import Chunk, Document, SentenceSpan
from indexer.store import (
    VersionData,
    choose_index_type,
    switch_current,
    text_hash,
    write_version,
)
from service.qa.search.lexical import STOPWORDS

# Content words so common that a question naming one matches a large share of the archive.
COMMON = ["government", "year", "people", "company", "city", "report", "world", "state"]
PASSAGES_PER_DOCUMENT = 10
SENTENCES_PER_PASSAGE = 5  # the seeds have 3; more sentences is the heavier case
DIMENSION = 384


@dataclass(frozen=True)
class Corpus:
    documents: list[Document]
    chunks: list[Chunk]
    sentences: list[SentenceSpan]
    vocabulary: list[str]


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """Words by rank: function words and the common content words on top, then made-up words."""
    function = sorted(STOPWORDS)
    rng.shuffle(function)
    top: list[str] = []
    common = iter(COMMON)
    for i, word in enumerate(function):
        if i % 6 == 5:  # a common content word among every few function words
            top.append(next(common, word))
        top.append(word)
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"] + ["qu", "tr", "st", "ch"]
    seen = set(top)
    words = list(top)
    while len(words) < size:
        parts = rng.integers(0, len(syllables), int(rng.integers(2, 5)))
        word = "".join(syllables[p] for p in parts) + rng.choice(list("nrstlx "), 1)[0].strip()
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def make_corpus(passages: int, seed: int = 0, vocab_size: int = 200_000) -> Corpus:
    """``passages`` passages in documents of ten, each of five sentences of Zipfian words."""
    rng = np.random.default_rng(seed)
    words = vocabulary(vocab_size, rng)
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    p = 1.0 / (ranks + 2.7)  # Zipf-Mandelbrot, as word counts in English text follow
    p /= p.sum()
    lengths = rng.integers(10, 26, passages * SENTENCES_PER_PASSAGE)
    tokens = rng.choice(vocab_size, size=int(lengths.sum()), p=p)
    vocab = np.asarray(words, dtype=object)
    day = datetime(2024, 1, 1, tzinfo=UTC)
    documents, chunks, sentences = [], [], []
    at = 0
    for d in range(-(-passages // PASSAGES_PER_DOCUMENT)):
        doc_id = f"syn{d:07d}"
        body, spans, offset = [], [], 0
        first = d * PASSAGES_PER_DOCUMENT
        for c in range(first, min(passages, first + PASSAGES_PER_DOCUMENT)):
            start = offset
            for s in range(c * SENTENCES_PER_PASSAGE, (c + 1) * SENTENCES_PER_PASSAGE):
                n = int(lengths[s])
                text = " ".join(vocab[tokens[at : at + n]]).capitalize() + "."
                at += n
                spans.append((offset, offset + len(text)))
                body.append(text)
                offset += len(text) + 1
            chunks.append((doc_id, c - first, start, offset - 1))
        text = " ".join(body)
        title = f"Synthetic report {d}"
        published = (day + timedelta(days=d % 1000)).date().isoformat()
        documents.append(
            Document(doc_id, title, text, f"{doc_id}.txt", "text", published=published)
        )
        for s, e in spans:
            sentences.append(SentenceSpan(doc_id, s, e))
    doc_text = {doc.doc_id: doc.text for doc in documents}
    out_chunks = [
        Chunk(doc_id, position, start, end, doc_text[doc_id][start:end], 0)
        for doc_id, position, start, end in chunks
    ]
    return Corpus(documents, out_chunks, sentences, words)


def unit_vectors(n: int, rng: np.random.Generator, clusters: int, dtype: Any) -> np.ndarray:
    """``n`` unit vectors scattered around ``clusters`` random centres."""
    centers = rng.standard_normal((max(1, clusters), DIMENSION)).astype(np.float32)
    out = np.empty((n, DIMENSION), dtype=dtype)
    for at in range(0, n, 100_000):
        m = min(100_000, n - at)
        x = centers[rng.integers(0, len(centers), m)]
        x += 0.5 * rng.standard_normal((m, DIMENSION)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[at : at + m] = x
    return out


def write_index(
    root: Path, passages: int, embedder: Any, seed: int = 0, query_encoder: bool = True
) -> Corpus:
    """Write a synthetic version of ``passages`` passages under ``root`` and make it current.

    ``embedder`` names the model in the manifest (and its probe vector), so the server accepts
    the index, and is exported as the query encoder; no passage is embedded.
    """
    corpus = make_corpus(passages, seed)
    rng = np.random.default_rng(seed + 1)
    vectors = unit_vectors(len(corpus.chunks), rng, len(corpus.chunks) // 100, np.float32)
    sentence_vectors = unit_vectors(len(corpus.sentences), rng, 1000, np.float16)
    data = VersionData(
        corpus.documents,
        corpus.chunks,
        [text_hash(c.text) for c in corpus.chunks],
        vectors,
        corpus.sentences,
        [f"s{i}" for i in range(len(corpus.sentences))],
        sentence_vectors,
        unit_vectors(len(corpus.documents), rng, 100, np.float16),
    )
    kind = choose_index_type(len(corpus.chunks))
    manifest = _manifest(
        datetime.now(UTC),
        f"synthetic{passages:08d}",
        Path("synthetic"),
        embedder,
        ChunkerSettings(),
        corpus.documents,
        corpus.chunks,
        corpus.sentences,
        [],
        embedded=0,
        index_type=kind,
    )
    switch_current(root, write_version(root, manifest, data))
    if query_encoder:  # as `ragqa index` does: the server's ONNX query encoder, beside the versions
        from service.api.app import load_query_encoder
        from service.settings import Settings

        load_query_encoder(Settings(index_dir=root), embedder)
    return corpus


def questions(corpus: Corpus, n: int, seed: int = 0) -> list[str]:
    """Questions about random passages: a few of their rarer words, and often a very common one.

    Half name one of ``COMMON`` (in a large share of all passages), the slow case for BM25 that
    scores every posting of every term.
    """
    rng = np.random.default_rng(seed)
    rank = {w: i for i, w in enumerate(corpus.vocabulary)}
    out = []
    while len(out) < n:
        chunk = corpus.chunks[int(rng.integers(0, len(corpus.chunks)))]
        words = [w.strip(string.punctuation).lower() for w in chunk.text.split()]
        rare = sorted({w for w in words if rank.get(w, 0) > 300})
        if len(rare) < 3:
            continue
        picked = [rare[i] for i in rng.choice(len(rare), 3, replace=False)]
        common = [COMMON[int(rng.integers(0, len(COMMON)))]] if len(out) % 2 else []
        out.append(f"What did the {' '.join(common + picked[:2])} say about {picked[2]}?")
    return out
