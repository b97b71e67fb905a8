"""Backends for the OAuth storage contracts (fixtures in conftest.py): memory, SQLite, PostgreSQL, Redis.

Every backend's clock starts at the real time and `advance` moves it: a `FrozenClock` for memory
and SQL, real sleeping for Redis, whose expiry (PEXPIREAT) runs on the server's own clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from helpers import add_user_rows, sql_database
from ostiary.core.clock import FrozenClock
from ostiary.storage.sqlalchemy.database import Database

USERS = ("u1", "u2", "u3")


@dataclass
class Backend:
    kind: str  # memory | sqlite | postgresql | redis
    clock: FrozenClock
    db: Database | None = None
    redis: Redis | None = None

    async def advance(self, seconds: float) -> None:
        if self.kind == "redis":
            await asyncio.sleep(seconds)
            self.clock.set(time.time())
        else:
            self.clock.advance(seconds)


@asynccontextmanager
async def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    clock = FrozenClock(time.time())
    if kind == "memory":
        yield Backend(kind, clock)
    elif kind == "redis":
        client = Redis.from_url(request.getfixturevalue("redis_url"))
        try:
            yield Backend(kind, clock, redis=client)
        finally:
            await client.aclose()
    else:
        async with sql_database(request, tmp_path, kind) as db:
            await add_user_rows(db, *USERS)
            yield Backend(kind, clock, db=db)
