"""The worker-local session cache over HTTP (storage/redis/session_cache.py): two app instances on one
database and one Redis stand for two workers. The clock is frozen unless a test moves it, so the 1 s
TTL backstop cannot be what makes the other worker refuse a cookie: only the push invalidation can.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from helpers import Harness, add_user, csrf, login, make_app
from ostiary.authn.sessions import SessionManager
from ostiary.core.clock import FrozenClock
from ostiary.storage.redis.session_cache import SessionCache

PUSH_BOUND = 0.5  # seconds; the TTL backstop is 1 s and frozen here anyway


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def workers(
    tmp_path: Path, database_url: str, redis_url: str, clock: FrozenClock
) -> AsyncIterator[tuple[Harness, Harness]]:
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            make_app(tmp_path, database_url, clock=clock, redis_url=redis_url)
        )
        b = await stack.enter_async_context(
            make_app(tmp_path, database_url, clock=clock, redis_url=redis_url)
        )
        yield a, b


def cache_of(h: Harness) -> SessionCache:
    store = h.services.redis_sessions
    assert store is not None and store.cache is not None
    return store.cache


async def cached_in(h: Harness, session_id: str) -> None:
    """Requests on `h` with this cookie until its record is answered from h's memory."""
    digest = SessionManager.digest(session_id)
    start = time.perf_counter()
    while cache_of(h).get(digest) is None:
        assert time.perf_counter() - start < 5, "the session never got cached"
        assert await h.status_with(session_id) == 200
        await asyncio.sleep(0.005)


async def refused_within(h: Harness, session_id: str, bound: float = PUSH_BOUND) -> float:
    start = time.perf_counter()
    while (status := await h.status_with(session_id)) != 401:
        assert status == 200
        assert time.perf_counter() - start < bound, "the other worker still accepts the cookie"
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


@pytest.mark.sec("SEC-10")
async def test_a_logout_on_one_worker_is_refused_on_the_other_promptly(
    workers: tuple[Harness, Harness],
) -> None:
    a, b = workers
    await add_user(a.services, "alice")
    token = await login(a.http, "alice")
    sid = a.session_of(a.http)
    await cached_in(b, sid)
    assert (await a.http.post("/auth/logout", headers=csrf(token))).status_code == 204
    assert await a.status_with(sid) == 401  # the worker that logged out: at once
    await refused_within(b, sid)
    assert cache_of(b).get(SessionManager.digest(sid)) is None


@pytest.mark.sec("SEC-10")
async def test_an_admin_revocation_on_one_worker_is_refused_on_the_other(
    workers: tuple[Harness, Harness],
) -> None:
    a, b = workers
    alice = await add_user(a.services, "alice")
    await add_user(a.services, "root", roles=["admin"])
    victim, admin = a.client(), a.client()
    await login(victim, "alice")
    sid = a.session_of(victim)
    token = await login(admin, "root")
    await cached_in(b, sid)
    response = await admin.post(f"/admin/users/{alice.id}/sessions/revoke", headers=csrf(token))
    assert response.json() == {"revoked": 1, "token_families": 0}
    await refused_within(b, sid)
    assert await b.status_with(a.session_of(admin)) == 200  # only alice's sessions went


@pytest.mark.sec("SEC-10")
async def test_concurrent_requests_on_the_other_worker_stop_being_accepted_after_a_logout(
    workers: tuple[Harness, Harness],
) -> None:
    a, b = workers
    await add_user(a.services, "alice")
    token = await login(a.http, "alice")
    sid = a.session_of(a.http)
    await cached_in(b, sid)
    browsers = [b.client(cookies={b.session_cookie_name: sid}) for _ in range(8)]
    answers: list[tuple[float, int]] = []
    stop = asyncio.Event()

    async def browse(client: Any) -> None:
        while not stop.is_set():
            answers.append((time.perf_counter(), (await client.get("/auth/me")).status_code))
            await asyncio.sleep(0)  # a cached hit may never suspend: let the others run

    tasks = [asyncio.ensure_future(browse(c)) for c in browsers]
    await asyncio.sleep(0.1)
    assert (await a.http.post("/auth/logout", headers=csrf(token))).status_code == 204
    logged_out = time.perf_counter()
    await refused_within(b, sid)
    refused = time.perf_counter()
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks)
    assert {s for _, s in answers} == {200, 401}
    started_after = [s for t, s in answers if t > refused]  # every request started once it was refused
    assert started_after and set(started_after) == {401}
    assert refused - logged_out < PUSH_BOUND


@pytest.mark.sec("SEC-11")
async def test_idle_expiry_is_rechecked_on_a_cached_hit(
    tmp_path: Path, database_url: str, redis_url: str, clock: FrozenClock
) -> None:
    settings: dict[str, Any] = {"session_idle_seconds": 600, "session_touch_interval_seconds": 3600}
    async with make_app(tmp_path, database_url, clock=clock, redis_url=redis_url, **settings) as h:
        await add_user(h.services, "alice")
        await login(h.http, "alice")
        sid = h.session_of(h.http)
        clock.advance(599.5)
        await cached_in(h, sid)  # read at t = 599.5: idle until t = 600 (no touch: long interval)
        clock.advance(0.6)  # t = 600.1: the cache entry is 0.6 s old, still fresh
        assert cache_of(h).get(SessionManager.digest(sid)) is not None
        assert await h.status_with(sid) == 401
        clock.advance(-0.6)  # deleted on sight, not merely refused
        assert await h.status_with(sid) == 401


@pytest.mark.sec("SEC-11")
async def test_absolute_expiry_is_rechecked_on_a_cached_hit(
    tmp_path: Path, database_url: str, redis_url: str, clock: FrozenClock
) -> None:
    settings: dict[str, Any] = {"session_idle_seconds": 600, "session_absolute_seconds": 1800}
    async with make_app(tmp_path, database_url, clock=clock, redis_url=redis_url, **settings) as h:
        await add_user(h.services, "alice")
        await login(h.http, "alice")
        sid = h.session_of(h.http)
        for _ in range(3):  # activity keeps it from idling out: t = 500, 1000, 1500
            clock.advance(500)
            assert await h.status_with(sid) == 200
        clock.advance(299.5)  # t = 1799.5
        await cached_in(h, sid)
        clock.advance(0.6)  # t = 1800.1, past the absolute limit, entry 0.6 s old
        assert cache_of(h).get(SessionManager.digest(sid)) is not None
        assert await h.status_with(sid) == 401


async def test_the_cache_can_be_turned_off(tmp_path: Path, database_url: str, redis_url: str) -> None:
    async with make_app(tmp_path, database_url, redis_url=redis_url, session_cache_seconds=0) as h:
        assert h.services.redis_sessions is not None and h.services.redis_sessions.cache is None
        await add_user(h.services, "alice")
        await login(h.http, "alice")
        assert (await h.http.get("/auth/me")).status_code == 200
