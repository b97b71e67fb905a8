"""Fixtures for the HTTP tests of the OAuth endpoints: an app on SQLite and PostgreSQL, two users.

alice holds the `viewer` role (permission `docs:read`); bob holds no role. The clock is frozen, so
code and consent lifetimes and `max_age` are moved explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import Harness, add_user, make_app
from ostiary.core.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def h(tmp_path: Path, database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=clock) as harness:
        await add_user(harness.services, "alice", roles=["viewer"])
        await add_user(harness.services, "bob", email="bob@example.org")
        yield harness
