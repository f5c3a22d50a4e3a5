"""The versions of an index an operator lists and rolls back to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.reader import IndexReader
from indexer.store import read_manifest, switch_current, versions_dir


def list_versions(root: Path) -> list[tuple[str, bool, dict[str, Any] | None]]:
    """(version, is current, manifest or None if unreadable), newest first."""
    folder = versions_dir(root)
    if not folder.is_dir():
        return []
    current = (root / "current").resolve() if (root / "current").exists() else None
    out = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name, reverse=True):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            manifest: dict[str, Any] | None = read_manifest(path)
        except IndexCorruptError:
            manifest = None
        out.append((path.name, path.resolve() == current, manifest))
    return out


def rollback(root: Path, version: str | None = None) -> str:
    """Make ``version`` (default: the newest one older than current) current, if it loads."""
    rows = list_versions(root)
    names = [name for name, _, _ in rows]
    if version is None:
        current = next((i for i, (_, is_current, _) in enumerate(rows) if is_current), None)
        older = [name for name, _, m in rows[(current or 0) + 1 :] if m is not None]
        if current is None or not older:
            raise IndexNotFoundError(f"no earlier version in {root} to roll back to")
        version = older[0]
    if version not in names:
        raise IndexNotFoundError(f"no version {version!r} in {root}; `ragqa versions` lists them")
    target = versions_dir(root) / version
    IndexReader(target).close()  # refuse a version that would not load
    switch_current(root, target)
    return version
