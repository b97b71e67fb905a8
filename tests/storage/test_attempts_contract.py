"""AttemptStore contract (memory, SQLite, PostgreSQL): exact counters under concurrency (SEC-76)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from helpers import sql_database
from ostiary.storage.interfaces.attempts import AttemptState
from ostiary.storage.memory.attempts import MemoryAttemptStore
from ostiary.storage.sqlalchemy.attempts import SqlAttemptStore


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def attempts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryAttemptStore()
        return
    async with sql_database(request, tmp_path, request.param) as db:
        yield SqlAttemptStore(db)


async def test_unknown_key_has_no_state(attempts: Any) -> None:
    assert await attempts.get("login:nobody") is None


async def test_failures_count_up_and_record_the_time(attempts: Any) -> None:
    assert await attempts.record_failure("login:alice", now=100.0) == AttemptState(1, 100.0)
    assert await attempts.record_failure("login:alice", now=105.5) == AttemptState(2, 105.5)
    assert await attempts.get("login:alice") == AttemptState(2, 105.5)
    assert await attempts.get("login:bob") is None


async def test_reset_forgets_the_key_only(attempts: Any) -> None:
    await attempts.record_failure("login:alice", now=1.0)
    await attempts.record_failure("login:bob", now=1.0)
    await attempts.reset("login:alice")
    assert await attempts.get("login:alice") is None
    assert await attempts.get("login:bob") == AttemptState(1, 1.0)
    await attempts.reset("login:never-seen")  # no error
    assert await attempts.record_failure("login:alice", now=2.0) == AttemptState(1, 2.0)


@pytest.mark.sec("SEC-76")
async def test_50_concurrent_failures_count_exactly_50(attempts: Any) -> None:
    states = await asyncio.gather(
        *(attempts.record_failure("login:victim", now=1_000.0 + i) for i in range(50))
    )
    assert (await attempts.get("login:victim")).failures == 50
    # Every increment saw a distinct count: no two read the same old value.
    assert sorted(s.failures for s in states) == list(range(1, 51))
