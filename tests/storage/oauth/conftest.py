"""Fixtures for the OAuth storage contracts; see oauth_store_backends.py for what a backend is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from oauth_store_backends import Backend, open_backend


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Every backend, for the short-lived kinds (codes, device authorizations, grants, tokens)."""
    async with open_backend(request, tmp_path) as value:
        yield value


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Memory and SQL only, for the durable kinds (clients, consents) that have no Redis store."""
    async with open_backend(request, tmp_path) as value:
        yield value


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request, tmp_path) as value:
        yield value


@pytest.fixture(params=["redis"])
async def redis_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request, tmp_path) as value:
        yield value
