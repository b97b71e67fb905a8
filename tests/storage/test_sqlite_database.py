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
from sqlalchemy import text

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


# ---------------------------------------------------------------------------------- fetch_first

COUNTER = text("SELECT n FROM counter WHERE id = :id")


@pytest.mark.parametrize("driver", ["ostiary", "aiosqlite"])
async def test_fetch_first_reads_one_row_on_both_drivers(tmp_path: Path, driver: str) -> None:
    db = Database(f"sqlite+{driver}:///{tmp_path / 'x.db'}")
    try:
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            await conn.exec_driver_sql("INSERT INTO counter (id, n) VALUES (1, 7)")
        row = await db.fetch_first(COUNTER, {"id": 1})
        assert row is not None and dict(row) == {"n": 7}
        assert await db.fetch_first(COUNTER, {"id": 2}) is None
    finally:
        await db.dispose()


async def test_fetch_first_keeps_no_snapshot_between_statements(db: Database, tmp_path: Path) -> None:
    """The kept connection is in autocommit: a change committed elsewhere after one read (another
    process's connection here) is seen by the next, and that writer is never kept waiting."""
    assert (await db.fetch_first(COUNTER, {"id": 1}) or {})["n"] == 0
    other = sqlite3.connect(tmp_path / "d.db", isolation_level=None)
    try:
        other.execute("PRAGMA busy_timeout=0")  # any lock left by the reader would fail this at once
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = 5 WHERE id = 1")
        other.execute("COMMIT")
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # completes only with no reader pinning the WAL
        assert other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
    finally:
        other.close()
    assert (await db.fetch_first(COUNTER, {"id": 1}) or {})["n"] == 5
    async with db.write() as conn:
        await conn.exec_driver_sql("UPDATE counter SET n = 6 WHERE id = 1")
    assert (await db.fetch_first(COUNTER, {"id": 1}) or {})["n"] == 6


async def test_fetch_first_reuses_one_connection_and_replaces_a_failed_one(db: Database) -> None:
    await db.fetch_first(COUNTER, {"id": 1})
    kept = db._point_readers[asyncio.get_running_loop()]
    await db.fetch_first(COUNTER, {"id": 1})
    assert db._point_readers[asyncio.get_running_loop()] is kept
    sqlite_connection = (await kept.get_raw_connection()).driver_connection
    with pytest.raises(StoreUnavailable):  # an OperationalError, as from read()
        await db.fetch_first(text("SELECT * FROM no_such_table"))
    assert kept.closed
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):  # discarded, not back in the pool
        sqlite_connection.execute("SELECT 1")
    assert asyncio.get_running_loop() not in db._point_readers
    assert (await db.fetch_first(COUNTER, {"id": 1}) or {})["n"] == 0  # a new one
    assert db._point_readers[asyncio.get_running_loop()] is not kept


async def test_concurrent_fetches_and_writes_see_every_committed_write(db: Database) -> None:
    """Readers and writers of one loop interleaved: each read returns a value some write committed,
    and the last read the final one (the kept connection is used by one statement at a time)."""
    seen: list[int] = []

    async def reader() -> None:
        for _ in range(20):
            seen.append(int((await db.fetch_first(COUNTER, {"id": 1}) or {})["n"]))
            await asyncio.sleep(0)

    await asyncio.wait_for(
        asyncio.gather(*(increment_slowly(db) for _ in range(20)), *(reader() for _ in range(5))), 20
    )
    assert set(seen) <= set(range(21))
    assert (await db.fetch_first(COUNTER, {"id": 1}) or {})["n"] == 20


async def test_dispose_closes_the_kept_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    await db.fetch_first(text("SELECT 1"))
    kept = db._point_readers[asyncio.get_running_loop()]
    await db.dispose()
    assert kept.closed
    assert asyncio.get_running_loop() not in db._point_readers


async def test_a_write_transaction_runs_with_the_usual_busy_timeout(db: Database) -> None:
    """BEGIN IMMEDIATE is tried with busy_timeout 0 (so the loop never waits in SQLite); the
    connection's own timeout is back for the statements of the transaction and for later users."""
    for _ in range(2):
        async with db.write() as conn:
            inside = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        async with db.read() as conn:
            after = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert inside == after == database_module.BUSY_TIMEOUT_MS
