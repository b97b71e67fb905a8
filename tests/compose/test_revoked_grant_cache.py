"""SyncedRevokedGrants: grant checks from memory, caught up from the store's feed (SEC-29)."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.compose.revoked_grant_cache import SyncedRevokedGrants
from ostiary.core.clock import FrozenClock, SystemClock
from ostiary.storage.interfaces.oauth_grants import RevokedGrant
from ostiary.storage.memory.oauth_grants import MemoryRevokedGrantStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.migrate import upgrade
from ostiary.storage.sqlalchemy.oauth_grants import SqlRevokedGrantStore

HOUR = 3600.0


class CountingFeed(MemoryRevokedGrantStore):
    """A feed that counts its reads and can hold them open or fail them."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def revoked_since(self, since: float) -> list[RevokedGrant]:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database unreachable")
        return await super().revoked_since(since)


@pytest.mark.sec("SEC-29")
async def test_checks_are_answered_from_memory_between_catch_ups() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock, interval=1.0)
    await grants.revoke("g1", at=clock.now(), remember_until=clock.now() + HOUR)
    for _ in range(100):
        assert await grants.is_revoked("g1") is True
        assert await grants.is_revoked("g2") is False
    assert feed.reads == 1  # the first check loads the live revocations once


@pytest.mark.sec("SEC-29")
async def test_a_revocation_by_another_process_is_seen_within_the_interval() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    this, other = SyncedRevokedGrants(feed, clock), SyncedRevokedGrants(feed, clock)
    assert await this.is_revoked("g1") is False
    await other.revoke("g1", at=clock.now(), remember_until=clock.now() + HOUR)
    assert await other.is_revoked("g1") is True  # the revoking process: at once
    clock.advance(0.5)
    assert await this.is_revoked("g1") is False  # the documented bound: not yet
    clock.advance(0.5)
    assert await this.is_revoked("g1") is True  # one interval later: caught up


@pytest.mark.sec("SEC-29")
async def test_a_revocation_committed_late_is_caught_by_the_overlap() -> None:
    """A slow transaction: its `revoked_at` is before a catch-up that did not see it."""
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock, interval=1.0, overlap=60.0)
    revoked_at = clock.now()
    clock.advance(5)
    assert await grants.is_revoked("late") is False  # catch-up at t+5 without the row
    await feed.revoke("late", at=revoked_at, remember_until=revoked_at + HOUR)  # commits now
    clock.advance(1)
    assert await grants.is_revoked("late") is True


async def test_concurrent_checks_share_one_catch_up() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock)
    feed.gate = asyncio.Event()
    checks = [asyncio.create_task(grants.is_revoked(f"g{i}")) for i in range(50)]
    await asyncio.sleep(0)
    feed.gate.set()
    assert await asyncio.gather(*checks) == [False] * 50
    assert feed.reads == 1


async def test_a_failed_catch_up_fails_the_check_and_the_next_one_retries() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock)
    assert await grants.is_revoked("g1") is False
    await feed.revoke("g1", at=clock.now(), remember_until=clock.now() + HOUR)
    clock.advance(2)
    feed.fail = True
    with pytest.raises(ConnectionError):  # never a stale "not revoked"
        await grants.is_revoked("g1")
    feed.fail = False
    assert await grants.is_revoked("g1") is True


async def test_a_cancelled_check_does_not_cancel_the_shared_catch_up() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock)
    await feed.revoke("g1", at=clock.now(), remember_until=clock.now() + HOUR)
    feed.gate = asyncio.Event()
    first = asyncio.create_task(grants.is_revoked("g1"))
    second = asyncio.create_task(grants.is_revoked("g1"))
    await asyncio.sleep(0)
    first.cancel()
    feed.gate.set()
    assert await second is True
    assert feed.reads == 1


async def test_past_revocations_are_forgotten() -> None:
    clock = FrozenClock()
    feed = CountingFeed(clock)
    grants = SyncedRevokedGrants(feed, clock)
    await grants.revoke("short", at=clock.now(), remember_until=clock.now() + 10)
    assert await grants.is_revoked("short") is True
    clock.advance(11)
    assert await grants.is_revoked("short") is False
    assert grants._remember_until == {}  # dropped at the catch-up, memory holds live ones only


@pytest.mark.sec("SEC-29")
async def test_two_workers_over_one_sql_database(database_url: str) -> None:
    """Real SQLite / PostgreSQL, real time: worker B sees worker A's revocation within 0.2 s."""
    db_a, db_b = Database(database_url), Database(database_url)
    await upgrade(db_a)
    clock = SystemClock()
    try:
        worker_a = SyncedRevokedGrants(SqlRevokedGrantStore(db_a, clock), clock, interval=0.2)
        worker_b = SyncedRevokedGrants(SqlRevokedGrantStore(db_b, clock), clock, interval=0.2)
        assert await worker_b.is_revoked("g1") is False
        await worker_a.revoke("g1", at=clock.now(), remember_until=clock.now() + HOUR)
        assert await worker_a.is_revoked("g1") is True
        await asyncio.sleep(0.25)
        assert await worker_b.is_revoked("g1") is True
    finally:
        await db_a.dispose()
        await db_b.dispose()
