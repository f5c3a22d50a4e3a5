"""Whether an index is up to date with its sources: the corpus fingerprint in its manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from indexer import __version__
from indexer.chunk import ChunkerSettings
from indexer.load import iter_source_files
from indexer.store import FORMAT_VERSION, current_manifest

# Part of the corpus fingerprint: bump it when a change to cleaning or to what is embedded can
# change what a rebuild produces, so that `ragqa index --if-stale` rebuilds (unchanged vectors are
# reused).
PIPELINE_VERSION = 5


def corpus_fingerprint(
    source: Path,
    model_name: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
    entity_model: str | None = None,
) -> str:
    """Changes whenever a rebuild could produce a different index."""
    h = hashlib.sha256()
    h.update(index_type.encode())
    h.update(f"entities={entity_model}".encode())
    h.update(
        f"{FORMAT_VERSION}|{__version__}|{PIPELINE_VERSION}|{model_name}|"
        f"{sorted(chunker.as_dict().items())}".encode()
    )
    for path in iter_source_files(source):
        h.update(path.relative_to(source).as_posix().encode() + b"\0")
        try:
            h.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError as e:  # unreadable: skipped by the build, and stale once readable
            h.update(f"unreadable {e.errno}".encode())
    return h.hexdigest()


def is_fresh(
    source: Path,
    out: Path,
    model_name: str,
    chunker: ChunkerSettings,
    index_type: str = "auto",
    entity_model: str | None = None,
) -> bool:
    manifest = current_manifest(out)
    if manifest is None or not source.is_dir():
        return False
    expected = corpus_fingerprint(source, model_name, chunker, index_type, entity_model)
    return bool(manifest["corpus"]["fingerprint"] == expected)
