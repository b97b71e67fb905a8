"""SQLite for the async engine, run on the event loop's own thread: the `sqlite+ostiary://` driver.

aiosqlite sends every DBAPI call to a worker thread and back: a cursor, its statement, its rows and
its close are four round trips, so one read (BEGIN, SELECT, ROLLBACK) made eight, about 1.2 ms on a
2-vCPU machine, where SQLite itself needs tens of microseconds for an indexed lookup in WAL mode.
This driver is the standard library's `sqlite3` called directly from SQLAlchemy's greenlet, with no
thread: a read then costs about 0.2 ms (bench/README.md).

Running on the loop's thread means a statement must never wait. Reads never do in WAL mode. Writers
do, for SQLite's one write lock, and `Database.write` (database.py) makes that wait asynchronous:
write transactions of one process queue on an `asyncio.Lock` per database file, and a `BEGIN
IMMEDIATE` refused because another process holds the lock is retried after an `asyncio.sleep`, so
the loop keeps serving while a writer waits. `busy_timeout` is kept short on these connections
(`BUSY_TIMEOUT_MS`) for SQLite's rare reader waits.

SQLAlchemy requires an async driver to suspend at least once per statement (its check for a driver
that is not async at all); each `execute` therefore awaits one already-finished coroutine, which
returns at once without giving up the loop.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "ostiary"
BUSY_TIMEOUT_MS = 200


async def _finished() -> None:
    return None


def _resume() -> None:
    if in_greenlet():
        await_(_finished())


class InlineCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> InlineCursor:
        super().execute(sql, parameters)
        _resume()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> InlineCursor:
        super().executemany(sql, seq_of_parameters)
        _resume()
        return self

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async results call this before handing rows over; `sqlite3` keeps the rows
        readable without it."""


class InlineConnection(sqlite3.Connection):
    def cursor(self, factory: Any = InlineCursor) -> Any:
        return super().cursor(factory)


class _InlineDBAPI:
    """The `sqlite3` module, connecting with `InlineConnection`."""

    paramstyle = sqlite3.paramstyle
    sqlite_version_info = sqlite3.sqlite_version_info

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    def connect(self, *args: Any, **kwargs: Any) -> InlineConnection:
        kwargs["factory"] = InlineConnection
        kwargs["check_same_thread"] = False  # one loop thread; Alembic's run_sync stays on it too
        return sqlite3.connect(*args, **kwargs)  # type: ignore[no-any-return]


class SQLiteDialectInline(SQLiteDialect_pysqlite):
    driver = DRIVER
    supports_statement_cache = True
    is_async = True

    @classmethod
    def import_dbapi(cls) -> Any:
        return _InlineDBAPI()

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def get_driver_connection(self, connection: Any) -> Any:
        return connection


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialectInline")
