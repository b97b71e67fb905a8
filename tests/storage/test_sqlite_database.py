"""SQLite on the event loop's thread (storage/sqlalchemy/sqlite_inline.py) and the asynchronous queueing
of writers in `Database.write` (storage/sqlalchemy/database.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ostiary.core.errors import StoreUnavailable
from ostiary.storage.sqlalchemy import database as database_module
from ostiary.storage.sqlalchemy.database import Database, sqlite_driver_url


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'd.db'}")
    async with database.write() as conn:
        await conn.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        await conn.exec_driver_sql("INSERT INTO counter (id, n) VALUES (1, 0)")
    yield database
    await database.dispose()


async def count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.exec_driver_sql("SELECT n FROM counter WHERE id = 1")).scalar_one())


async def increment_slowly(db: Database) -> None:
    """A read-modify-write that gives up the loop in the middle of its transaction."""
    async with db.write() as conn:
        n = (await conn.exec_driver_sql("SELECT n FROM counter WHERE id = 1")).scalar_one()
        await asyncio.sleep(0.002)
        await conn.exec_driver_sql(f"UPDATE counter SET n = {int(n) + 1} WHERE id = 1")


def hold_write_lock(path: Path, seconds: float, started: threading.Event) -> None:
    """Another writer (a separate connection, as another process would be) holding SQLite's write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
        started.set()
        time.sleep(seconds)
        other.execute("COMMIT")
    finally:
        other.close()


async def insert_then_fail(db: Database) -> None:
    async with db.write() as conn:
        await conn.exec_driver_sql("INSERT INTO t (v) VALUES ('rolled back')")
        raise ZeroDivisionError


def test_the_default_driver_runs_on_the_loop_and_plain_sqlite_urls_mean_it() -> None:
    assert sqlite_driver_url("sqlite:////data/o.db") == "sqlite+ostiary:////data/o.db"
    assert sqlite_driver_url("sqlite+aiosqlite:////data/o.db") == "sqlite+aiosqlite:////data/o.db"
    assert sqlite_driver_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"


@pytest.mark.parametrize("driver", ["ostiary", "aiosqlite"])
async def test_both_drivers_read_and_write(tmp_path: Path, driver: str) -> None:
    db = Database(f"sqlite+{driver}:///{tmp_path / 'x.db'}")
    try:
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (v TEXT)")
            await conn.exec_driver_sql("INSERT INTO t (v) VALUES ('a'), ('b')")
        with pytest.raises(ZeroDivisionError):
            await insert_then_fail(db)
        async with db.read() as conn:
            rows = (await conn.exec_driver_sql("SELECT v FROM t ORDER BY v")).scalars().all()
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        assert (rows, mode) == (["a", "b"], "wal")
    finally:
        await db.dispose()


async def test_writers_of_one_process_take_turns_without_lock_errors(db: Database) -> None:
    await asyncio.wait_for(asyncio.gather(*(increment_slowly(db) for _ in range(30))), 20)
    assert await count(db) == 30  # no lost update: each transaction ran alone


async def test_two_databases_on_one_file_share_the_turns(db: Database) -> None:
    twin = Database(db.url)
    try:
        jobs = [increment_slowly(db if i % 2 else twin) for i in range(10)]
        await asyncio.wait_for(asyncio.gather(*jobs), 20)
    finally:
        await twin.dispose()
    assert await count(db) == 10


async def test_a_write_inside_a_write_on_the_same_database_is_refused_at_once(db: Database) -> None:
    async with db.write():
        with pytest.raises(RuntimeError, match="inside another"):
            async with asyncio.timeout(2), db.write():  # same task: it would wait for itself
                pass
    async with db.write() as conn:  # the refusal left nothing held
        await conn.exec_driver_sql("UPDATE counter SET n = 7 WHERE id = 1")
    assert await count(db) == 7


async def test_a_task_started_inside_a_write_may_write_once_it_has_ended(db: Database) -> None:
    async with db.write():
        later = asyncio.create_task(increment_slowly(db))  # inherits the context of the transaction
        await asyncio.sleep(0)
    await asyncio.wait_for(later, 5)
    assert await count(db) == 1


async def test_waiting_for_another_process_writer_does_not_block_the_loop(
    db: Database, tmp_path: Path
) -> None:
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "d.db", 0.4, started))
    holder.start()
    try:
        assert await asyncio.to_thread(started.wait, 5)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        before = time.monotonic()
        assert await count(db) == 0  # WAL: a reader is not held up by the writer
        await increment_slowly(db)  # waits for the other writer's commit
        waited = time.monotonic() - before
        ticking.cancel()
    finally:
        holder.join(5)
    assert await count(db) == 101  # both updates, in turn
    assert waited >= 0.3
    assert ticks >= 10  # the loop kept running while the write waited


async def test_a_writer_that_never_gets_the_lock_is_unavailable_not_stuck(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "WRITE_LOCK_WAIT_SECONDS", 0.2)
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(tmp_path / "d.db", 1.0, started))
    holder.start()
    try:
        assert await asyncio.to_thread(started.wait, 5)
        before = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await increment_slowly(db)
        assert time.monotonic() - before < 0.9
    finally:
        holder.join(5)
    await increment_slowly(db)  # and works again once the lock is free
    assert await count(db) == 101
