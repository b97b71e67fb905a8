"""Fixtures of the end-to-end tests (the server process itself lives in serving.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Server, serve


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    """The zero-configuration server: embedded SQLite in the data directory."""
    with serve(tmp_path) as server:
        yield server
