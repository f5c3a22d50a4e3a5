"""Fixtures for the service tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.api.app import create_app
from service.settings import Settings
from tests.support.live import live_server


@pytest.fixture(scope="session")
def seed_server(seed_index: Path, embedder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real uvicorn server over the seed index; tests must not change its state."""
    with live_server(create_app(Settings(index_dir=seed_index), embedder=embedder)) as url:
        yield url
