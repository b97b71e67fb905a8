"""The session-cookie path through the per-user principal cache, over HTTP (authn/principals.py).

A cached caller costs no SQL; a disable or a role change is seen on the next request in the worker that
made it, and within the documented bound (compose/authorization.py, 1 s) in another process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from helpers import Harness, add_user, csrf, login, make_app
from ostiary.compose.authorization import AUTHZ_MAX_STALENESS_SECONDS
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.users import UserAccess
from ostiary.storage.sqlalchemy.database import Database

SRC = str(Path(__file__).resolve().parents[2] / "src")
# Another worker: a separate process that disables a user through the store, as an admin request or
# a realm import handled there would.
OTHER_WORKER = """
import asyncio, sys
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.users import SqlUserStore

async def main() -> None:
    db = Database(sys.argv[1])
    try:
        assert await SqlUserStore(db).update(sys.argv[2], disabled=True)
    finally:
        await db.dispose()

asyncio.run(main())
"""


@contextmanager
def sql_statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def me(h: Harness) -> dict[str, Any] | int:
    response = await h.http.get("/auth/me")
    if response.status_code != 200:
        return response.status_code
    body: dict[str, Any] = response.json()
    return body


async def test_a_cached_cookie_request_runs_no_sql_with_the_redis_session_store(
    tmp_path: Path, database_url: str, redis_url: str, clock: FrozenClock
) -> None:
    async with make_app(tmp_path, database_url, clock=clock, redis_url=redis_url) as h:
        await add_user(h.services, "alice", roles=["viewer"])
        await login(h.http, "alice")
        assert (await h.http.get("/auth/me")).status_code == 200
        with sql_statements(h.services.db) as seen:
            for _ in range(5):
                response = await h.http.get("/auth/me")
                assert response.status_code == 200
                assert response.json()["permissions"] == ["docs:read"]
        assert seen == []


@pytest.mark.sec("SEC-12")
async def test_a_user_disabled_without_revoking_sessions_is_refused_on_the_next_request(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    async with make_app(tmp_path, database_url, clock=clock) as h:
        alice = await add_user(h.services, "alice")
        await login(h.http, "alice")
        assert (await h.http.get("/auth/me")).status_code == 200
        # A realm import disables without touching sessions: only the cache's version can catch it.
        await add_user(h.services, "alice", disabled=True)
        assert (await h.http.get("/auth/me")).status_code == 401
        await add_user(h.services, "alice", disabled=False)
        assert (await h.http.get("/auth/me")).status_code == 200
        assert await h.services.users.update(alice.id, disabled=True)
        assert (await h.http.get("/auth/me")).status_code == 401


@pytest.mark.sec("SEC-58")
async def test_a_role_change_through_the_admin_api_shows_on_the_next_request(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    async with make_app(tmp_path, database_url, clock=clock) as h:
        alice = await add_user(h.services, "alice", roles=["viewer"])
        await add_user(h.services, "root", roles=["admin"])
        admin = h.client()
        token = await login(admin, "root")
        await login(h.http, "alice")
        assert (await me(h))["roles"] == ["viewer"]  # type: ignore[index]
        for roles in (["admin"], []):
            changed = await admin.put(
                f"/admin/users/{alice.id}/access", json={"roles": roles}, headers=csrf(token)
            )
            assert changed.status_code == 200, changed.text
            body = await me(h)
            assert isinstance(body, dict)
            assert body["roles"] == roles
        assert (await h.http.get("/admin/users")).status_code == 403


@pytest.mark.sec("SEC-12")
async def test_another_process_disabling_the_user_is_seen_within_the_bound(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    async with make_app(tmp_path, database_url, clock=clock) as h:
        alice = await add_user(h.services, "alice")
        await login(h.http, "alice")
        assert (await h.http.get("/auth/me")).status_code == 200
        env = {**os.environ, "PYTHONPATH": SRC}
        worker = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", OTHER_WORKER, database_url, alice.id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert worker.returncode == 0, worker.stderr
        clock.advance(AUTHZ_MAX_STALENESS_SECONDS)
        assert (await h.http.get("/auth/me")).status_code == 401


async def status_of_me(h: Harness, start: asyncio.Barrier) -> int:
    await start.wait()
    return (await h.http.get("/auth/me")).status_code


async def set_roles(h: Harness, start: asyncio.Barrier, user_id: str, roles: frozenset[str]) -> None:
    await start.wait()
    await h.services.access.set_access(user_id, UserAccess(roles))


@pytest.mark.sec("SEC-58")
async def test_concurrent_requests_racing_a_role_change_all_succeed_and_the_change_sticks(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    async with make_app(tmp_path, database_url, clock=clock) as h:
        alice = await add_user(h.services, "alice", roles=["viewer"])
        await login(h.http, "alice")
        for roles in (frozenset({"admin"}), frozenset({"viewer"}), frozenset()):
            start = asyncio.Barrier(21)
            statuses = await asyncio.gather(
                set_roles(h, start, alice.id, roles), *(status_of_me(h, start) for _ in range(20))
            )
            assert statuses[1:] == [200] * 20
            body = await me(h)
            assert isinstance(body, dict)
            assert set(body["roles"]) == roles
