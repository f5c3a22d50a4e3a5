"""Where a build's expensive steps run: on this machine (``local``, the default) or on a Ray
cluster (``ray``, the optional extra ``pip install .[ray]``).

An engine does two things for :func:`indexer.build.build_index`: read, clean and chunk the corpus
(``prepare``) and embed the texts that have no stored vector (``encode``). Everything else (which
vectors are reused, FAISS, Tantivy, SQLite, the manifest and the switch) stays on the machine
that runs the build, and is the same whichever engine ran: a Ray build equals a local one
(tests/indexer/test_ray_engine.py).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.choices import ENGINES
from indexer.chunk import Chunker, ChunkerSettings
from indexer.clean import clean_document
from indexer.entities import Entity
from indexer.errors import RagqaError
from indexer.load import FileRead, failure_reason, load_corpus, merge_files, read_file, source_files
from indexer.models import Chunk, Document, LoadResult, RawDocument, Skipped

log = logging.getLogger("ragqa")


class EngineError(RagqaError):
    """The cluster could not be reached, or a distributed step failed or made no progress."""


@dataclass
class Prepared:
    """One document, cleaned and split: its passages and the sentence spans they are made of."""

    doc: Document
    chunks: list[Chunk]
    spans: list[tuple[int, int]]


def prepare_document(raw: RawDocument, chunker: Chunker) -> Prepared | Skipped:
    """Clean and split one document; a document that cannot be is skipped with the reason."""
    single = raw.format in ("text", "html", "markdown")
    where = raw.path if single else f"{raw.path} record {raw.doc_id!r}"
    try:
        doc = clean_document(raw)
        if doc is None:
            return Skipped(where, "no article text left after cleaning")
        chunks, spans = chunker.split_with_sentences(doc)
    except Exception as e:  # one document that cannot be cleaned or split is skipped
        return Skipped(where, failure_reason(e))
    return Prepared(doc, chunks, spans)


class Engine(Protocol):
    name: str

    def prepare(
        self, source: Path, settings: ChunkerSettings, embedder: Any
    ) -> tuple[LoadResult, list[Prepared | Skipped]]:
        """The corpus read (documents in order, files and records skipped) and each of its
        documents prepared, in the same order."""
        ...

    def encode(
        self, texts: list[str], embedder: Any, progress: Callable[[int], None] | None
    ) -> np.ndarray:
        """float32 unit vectors of ``texts`` as ``embedder.encode_corpus`` makes them."""
        ...

    def recognise(
        self, texts: list[str], recognizer: Any, progress: Callable[[int], None] | None
    ) -> list[list[Entity]]:
        """Each text's named entities as ``recognizer.recognise`` finds them."""
        ...


class LocalEngine:
    """Every step in this process: the default, and what needs no Ray."""

    name = "local"

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def prepare(
        self, source: Path, settings: ChunkerSettings, embedder: Any
    ) -> tuple[LoadResult, list[Prepared | Skipped]]:
        loaded = load_corpus(source)
        chunker = Chunker(embedder.tokenizer, settings)
        return loaded, [prepare_document(raw, chunker) for raw in loaded.documents]

    def encode(
        self, texts: list[str], embedder: Any, progress: Callable[[int], None] | None
    ) -> np.ndarray:
        return np.asarray(embedder.encode_corpus(texts, progress=progress), dtype=np.float32)

    def recognise(
        self, texts: list[str], recognizer: Any, progress: Callable[[int], None] | None
    ) -> list[list[Entity]]:
        return recognizer.recognise(texts, progress)


@dataclass
class RayOptions:
    """How a build uses Ray (each is a `ragqa index` option and a RAGQA_RAY_* setting)."""

    address: str | None = None  # a running cluster ("auto", "ray://host:10001"); None starts one
    workers: int = 1  # actors per pool (embedding; entities), each loading its model once
    batch_size: int = 256  # texts per call to an actor
    cpus_per_worker: float = 1.0  # CPUs each actor reserves (and its PyTorch threads)
    num_cpus: int | None = None  # CPUs of a local Ray started here (None: all)
    timeout_s: float = 600.0  # a step that makes no progress this long fails the build
    files_per_task: int = 64  # files read, cleaned and chunked by one task


class RayEngine:
    """Reading, cleaning and chunking as Ray tasks; embedding, and entity recognition, each on a
    pool of Ray actors (Ray Data's ``map_batches`` over an ``ActorPoolStrategy``). Use as a
    context manager: a local Ray it started is stopped at the end; from a cluster it joined it
    disconnects, leaving the cluster running."""

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self._started = False

    def __enter__(self) -> RayEngine:
        try:
            import ray
        except ImportError as e:
            raise EngineError(
                "the ray engine needs Ray: pip install 'ragqa[ray]' (make install does)"
            ) from e
        if ray.is_initialized():
            return self
        o = self.options
        common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if o.address:
            _check_reachable(o.address)
        try:
            if o.address:
                ray.init(address=o.address, **common)
            else:
                ray.init(num_cpus=o.num_cpus, include_dashboard=False, **common)
        except Exception as e:  # ray raises ConnectionError, RuntimeError, ValueError...
            where = o.address or "a local Ray"
            raise EngineError(f"cannot start or reach {where}: {failure_reason(e)}") from e
        self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def prepare(
        self, source: Path, settings: ChunkerSettings, embedder: Any
    ) -> tuple[LoadResult, list[Prepared | Skipped]]:
        import ray

        files = source_files(source)
        step = max(1, self.options.files_per_task)
        groups = [files[i : i + step] for i in range(0, len(files), step)]
        args = (str(source), str(embedder.path), settings.as_dict())
        task = ray.remote(max_retries=3)(_read_and_prepare)
        refs = [task.remote(*args, [str(p) for p in group]) for group in groups]
        results: list[tuple[FileRead, list[Prepared | Skipped]]] = []
        for group, ref in zip(groups, refs, strict=True):
            try:
                got: list[tuple[FileRead, list[Prepared | Skipped]]] = ray.get(
                    ref, timeout=self.options.timeout_s
                )
                results.extend(got)
            except ray.exceptions.GetTimeoutError as e:
                raise EngineError(
                    f"reading {len(group)} files made no progress in {self.options.timeout_s:.0f} s"
                ) from e
            except ray.exceptions.RayError:
                # A task that died on its files (retries spent): each file alone, so the one
                # that kills a worker is skipped and the others are read.
                for path in group:
                    results.append(self._read_alone(task, args, source, path))
        # Each task returns the documents it read with their preparations; documents keep their
        # identity through the merge, which drops those whose doc_id an earlier file took.
        by_document: dict[int, Prepared | Skipped] = {}
        for read, prepared in results:
            raws = [item for item in read.items if isinstance(item, RawDocument)]
            by_document.update((id(r), p) for r, p in zip(raws, prepared, strict=True))
        loaded = merge_files([read for read, _ in results])
        return loaded, [by_document[id(raw)] for raw in loaded.documents]

    def _read_alone(
        self, task: Any, args: tuple[str, str, dict[str, Any]], source: Path, path: Path
    ) -> tuple[FileRead, list[Prepared | Skipped]]:
        import ray

        rel = path.relative_to(source).as_posix()
        try:
            [result] = ray.get(task.remote(*args, [str(path)]), timeout=self.options.timeout_s)
            return result
        except ray.exceptions.GetTimeoutError as e:
            raise EngineError(
                f"reading {rel} made no progress in {self.options.timeout_s:.0f} s"
            ) from e
        except ray.exceptions.RayError as e:
            reason = f"the Ray task reading it failed: {failure_reason(e, 160)}"
            return FileRead(rel, [Skipped(rel, reason)]), []

    def encode(
        self, texts: list[str], embedder: Any, progress: Callable[[int], None] | None
    ) -> np.ndarray:
        vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        settings = {
            "model": str(embedder.path),
            "precision": embedder.corpus_precision,
            "batch_size": embedder.batch_size,
            "threads": max(1, math.floor(self.options.cpus_per_worker)),
        }
        for rows, batch in self._map(texts, EmbedBatch, settings, "embedding", progress):
            vectors[rows] = np.asarray(batch["vector"], dtype=np.float32)
        return vectors

    def recognise(
        self, texts: list[str], recognizer: Any, progress: Callable[[int], None] | None
    ) -> list[list[Entity]]:
        found: list[list[Entity]] = [[] for _ in texts]
        settings = {"folder": str(recognizer.folder), "batch_size": recognizer.batch_size}
        for rows, batch in self._map(
            texts, RecogniseBatch, settings, "entity recognition", progress
        ):
            for row, spans in zip(rows, batch["entities"], strict=True):
                found[row] = [(str(label), int(a), int(b)) for label, a, b in json.loads(spans)]
        return found

    def _map(
        self,
        texts: list[str],
        actor: type,
        settings: dict[str, Any],
        what: str,
        progress: Callable[[int], None] | None,
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """``texts`` through a pool of ``actor`` (built with ``settings``): each output batch
        with the rows it holds; every row comes back exactly once, or EngineError."""
        if not texts:
            return
        import pyarrow as pa
        import ray.data
        from ray.data import ActorPoolStrategy, DataContext

        o = self.options
        context = DataContext.get_current()
        # A pipeline that stops moving (a worker that never comes back) fails the build instead of
        # hanging it.
        context.execution_no_progress_timeout_s = o.timeout_s
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        size = max(1, o.batch_size)
        table = pa.table({"i": np.arange(len(texts), dtype=np.int64), "text": texts})
        blocks = [table.slice(start, size) for start in range(0, len(texts), size)]
        mapped = ray.data.from_arrow(blocks).map_batches(
            actor,
            fn_constructor_kwargs=settings,
            batch_size=size,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=max(1, o.workers)),
            num_cpus=o.cpus_per_worker,
        )
        done = np.zeros(len(texts), dtype=bool)
        try:
            for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
                rows = np.asarray(batch["i"])
                yield rows, batch
                done[rows] = True
                if progress:
                    progress(len(rows))
        except EngineError:
            raise
        except Exception as e:  # Ray Data raises its own types, and the timeout's
            raise EngineError(f"{what} on Ray failed: {failure_reason(e, 300)}") from e
        if not done.all():
            raise EngineError(f"{what} on Ray returned {int(done.sum())} of {len(texts)} texts")


class EmbedBatch:
    """A Ray actor's embedder: the model loaded once, then one call per batch of texts."""

    def __init__(self, model: str, precision: str, batch_size: int, threads: int) -> None:
        import torch

        from indexer.embed import SentenceTransformerEmbedder

        torch.set_num_threads(threads)
        started = time.perf_counter()
        self.embedder = SentenceTransformerEmbedder(model, batch_size, precision=precision)
        # The precision the driver chose, never re-decided per machine: every vector of a build
        # is computed the same way.
        self.embedder._corpus_precision = precision
        log.info("embedding actor ready in %.1f s", time.perf_counter() - started)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        return {"i": batch["i"], "vector": self.embedder.encode_corpus(texts)}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once on a cluster address nothing answers at (Ray itself keeps retrying for
    minutes); "auto" and other forms without a port are left to Ray."""
    import socket

    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise EngineError(f"cannot start or reach {address}: {e.strerror or e}") from e


class RecogniseBatch:
    """A Ray actor's entity recogniser (spaCy's, as indexer.entities loads it), loaded once."""

    def __init__(self, folder: str, batch_size: int) -> None:
        from indexer.entities import EntityRecognizer

        self.recognizer = EntityRecognizer(Path(folder), batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        found = self.recognizer.recognise([str(t) for t in batch["text"]])
        return {"i": batch["i"], "entities": np.array([json.dumps(f) for f in found], dtype=object)}


@functools.lru_cache(maxsize=4)
def _chunker(model: str, settings: tuple[tuple[str, Any], ...]) -> Chunker:
    from indexer.embed import HFTokenizer

    return Chunker(HFTokenizer(Path(model)), ChunkerSettings(**dict(settings)))


def _read_and_prepare(
    source: str, model: str, settings: dict[str, Any], paths: list[str]
) -> list[tuple[FileRead, list[Prepared | Skipped]]]:
    """A Ray task: read, clean and chunk some files (the chunker is kept per worker process)."""
    chunker = _chunker(model, tuple(sorted(settings.items())))
    out = []
    for path in paths:
        read = read_file(Path(source), Path(path))
        raws = [item for item in read.items if isinstance(item, RawDocument)]
        out.append((read, [prepare_document(raw, chunker) for raw in raws]))
    return out


def make_engine(name: str, options: RayOptions | None = None) -> LocalEngine | RayEngine:
    if name == "local":
        return LocalEngine()
    if name == "ray":
        return RayEngine(options)
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}")
