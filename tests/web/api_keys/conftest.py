"""The demo app (items, posts, food; users alice admin, bob editor, carol viewer, dave no role) on a
frozen clock, for the API-key HTTP tests (builders in api_keys_http_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import PASSWORD, Harness, make_app
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.core.clock import FrozenClock
from ostiary.realm.importer import read_realm_file


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def import_demo_realm(harness: Harness) -> None:
    importer = realm_importer(harness.services)
    await importer.import_data(read_realm_file(DEMO_REALM))
    await importer.import_data({"users": [{"username": "dave", "password": PASSWORD}]})


@pytest.fixture
async def demo(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Harness]:
    """SQLite: the HTTP behaviour does not depend on the backend (the store contract covers both)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    async with make_app(tmp_path, url, clock=clock, demo_users=demo_users()) as harness:
        await import_demo_realm(harness)
        yield harness


@pytest.fixture
async def demo_any_db(tmp_path: Path, database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    """The same on SQLite and PostgreSQL, for the tests whose claims lean on the store."""
    async with make_app(tmp_path, database_url, clock=clock, demo_users=demo_users()) as harness:
        await import_demo_realm(harness)
        yield harness
