"""Lockout, rate limits, the hashing-pool bound and exact counters (SEC-60..63, SEC-76)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from helpers import PASSWORD, Harness, add_user, audit_rows, login, make_app
from ostiary.authn.lockout import Lockout
from ostiary.core.clock import FrozenClock

WRONG = "this is not the password"


async def attempt(h: Harness, username: str, password: str, ip: str = "127.0.0.1", **headers: str):
    return await h.client(client_ip=ip).post(
        "/auth/login", json={"username": username, "password": password}, headers=headers
    )


@pytest.mark.sec("SEC-60")
async def test_repeated_failures_lock_the_account_from_any_ip_until_time_passes(
    tmp_path: Path, database_url: str
) -> None:
    clock = FrozenClock()
    async with make_app(tmp_path, database_url, clock=clock, lockout_free_attempts=5) as h:
        await add_user(h.services, "alice")
        for i in range(5):
            assert (await attempt(h, "alice", WRONG, ip=f"203.0.113.{i}")).status_code == 401
        locked = await attempt(h, "alice", PASSWORD, ip="198.51.100.77")  # right password, new IP
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
        assert locked.json()["error"] == "rate_limited"
        assert (await h.services.lockout.state(Lockout.key_for("alice"))).failures == 5
        clock.advance(int(locked.headers["retry-after"]) + 0.5)
        assert (await attempt(h, "alice", WRONG)).status_code == 401  # 6th failure: now 2 s
        sixth = await attempt(h, "alice", PASSWORD)
        assert sixth.status_code == 429
        assert int(sixth.headers["retry-after"]) == 2
        clock.advance(3)
        assert (await attempt(h, "alice", PASSWORD)).status_code == 200
        assert await h.services.lockout.state(Lockout.key_for("alice")) is None  # success resets
        assert (await attempt(h, "alice", WRONG)).status_code == 401
        assert (await h.services.lockout.state(Lockout.key_for("ALICE"))).failures == 1
        assert len(await audit_rows(h.services, "login.lockout")) == 1


@pytest.mark.sec("SEC-60")
@pytest.mark.sec("SEC-64")
async def test_the_lock_of_an_unknown_account_looks_the_same(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock()
    async with make_app(tmp_path, database_url, clock=clock) as h:
        await add_user(h.services, "alice")
        rid = {"X-Request-ID": "fixed-request-id-77"}
        for name in ("alice", "ghost"):
            for _ in range(5):
                await attempt(h, name, WRONG)
        known, unknown = await attempt(h, "alice", WRONG, **rid), await attempt(h, "ghost", WRONG, **rid)
        assert known.status_code == unknown.status_code == 429
        assert known.content == unknown.content
        assert known.headers["retry-after"] == unknown.headers["retry-after"]


@pytest.mark.sec("SEC-61")
@pytest.mark.sec("SEC-62")
async def test_one_ip_spraying_many_usernames_hits_the_per_ip_limit(
    tmp_path: Path, database_url: str
) -> None:
    async with make_app(tmp_path, database_url, rate_limit_login_per_ip="5/minute") as h:
        await add_user(h.services, "alice")
        for i in range(5):
            assert (await attempt(h, f"user{i}", PASSWORD)).status_code == 401
        limited = await attempt(h, "user99", PASSWORD)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await attempt(h, "alice", PASSWORD)).status_code == 429  # even the right password
        assert (await attempt(h, "alice", PASSWORD, ip="198.51.100.1")).status_code == 200  # other IP


@pytest.mark.sec("SEC-62")
async def test_the_per_ip_and_username_limit(tmp_path: Path, database_url: str) -> None:
    settings = {"rate_limit_login_per_ip_user": "3/minute", "lockout_free_attempts": 50}
    async with make_app(tmp_path, database_url, **settings) as h:
        await add_user(h.services, "alice")
        for _ in range(3):
            assert (await attempt(h, "alice", WRONG)).status_code == 401
        assert (await attempt(h, "Alice", WRONG)).status_code == 429
        assert (await attempt(h, "bob", WRONG)).status_code == 401


@pytest.mark.sec("SEC-62")
async def test_registration_is_rate_limited_per_ip(tmp_path: Path, database_url: str) -> None:
    async with make_app(tmp_path, database_url, rate_limit_register_per_ip="3/minute") as h:
        for i in range(3):
            response = await h.http.post("/auth/register", json={"username": f"u{i}", "password": PASSWORD})
            assert response.status_code == 202
        limited = await h.http.post("/auth/register", json={"username": "u9", "password": PASSWORD})
        assert limited.status_code == 429
        assert "retry-after" in limited.headers
        assert await h.services.users.find_by_login("u9") is None


@pytest.mark.sec("SEC-63")
async def test_spoofed_forwarded_for_does_not_change_the_rate_limit_key(
    tmp_path: Path, database_url: str
) -> None:
    async with make_app(tmp_path, database_url, rate_limit_login_per_ip="3/minute") as h:
        spoofs = ["1.2.3.4", "a", "10.0.0.1, 10.0.0.2", "", "::1"]
        for i, xff in enumerate(spoofs[:3]):
            response = await attempt(h, f"user{i}", WRONG, ip="192.0.2.10", **{"X-Forwarded-For": xff})
            assert response.status_code == 401
        for xff in spoofs:
            response = await attempt(
                h, "user9", WRONG, ip="192.0.2.10", **{"X-Forwarded-For": xff, "X-Real-IP": xff}
            )
            assert response.status_code == 429, xff
        failures = await audit_rows(h.services, "login.failure")
        assert {row["ip"] for row in failures} == {"192.0.2.10"}  # logs key on the peer too


@pytest.mark.sec("SEC-76")
@pytest.mark.sec("SEC-60")
async def test_50_parallel_wrong_passwords_count_exactly_50_then_the_lock_engages(
    tmp_path: Path, database_url: str
) -> None:
    settings = {"hash_queue_limit": 100, "lockout_free_attempts": 50}
    # The 51st failure-free wait is 1 s after the last failure; a frozen clock keeps a slow machine
    # (50 argon2 hashes on 2 cores) from letting that second pass before the final attempt.
    async with make_app(tmp_path, database_url, clock=FrozenClock(), **settings) as h:
        await add_user(h.services, "alice")
        responses = await asyncio.gather(*(attempt(h, "alice", f"{WRONG} {i}") for i in range(50)))
        assert [r.status_code for r in responses] == [401] * 50
        state = await h.services.lockout.state(Lockout.key_for("alice"))
        assert state is not None
        assert state.failures == 50
        assert (await attempt(h, "alice", PASSWORD)).status_code == 429
        assert len(await audit_rows(h.services, "login.failure")) == 50


async def test_a_login_flood_beyond_the_hashing_pool_gets_fast_503s_and_healthz_stays_up(
    tmp_path: Path, database_url: str
) -> None:
    # Slower hashing than usual so that the pool is still busy while the flood arrives.
    settings = {"hash_workers": 1, "hash_queue_limit": 1, "argon2_memory_kib": 32768, "argon2_time_cost": 3}
    async with make_app(tmp_path, database_url, **settings) as h:
        await add_user(h.services, "alice")

        async def timed_login() -> tuple[int, float, str | None]:
            started = time.perf_counter()
            response = await attempt(h, "alice", PASSWORD)
            elapsed = time.perf_counter() - started
            if response.status_code == 503:
                assert response.json()["error"] == "overloaded"
            return response.status_code, elapsed, response.headers.get("retry-after")

        async def timed_health() -> float:
            await asyncio.sleep(0.01)
            started = time.perf_counter()
            assert (await h.client().get("/healthz")).status_code == 200
            return time.perf_counter() - started

        flood = [asyncio.create_task(timed_login()) for _ in range(12)]
        health = await timed_health()
        results = await asyncio.gather(*flood)
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) >= 1
        overloaded = [r for r in results if r[0] == 503]
        assert overloaded, statuses
        assert set(statuses) <= {200, 503}
        slowest_ok = max(elapsed for status, elapsed, _ in results if status == 200)
        for _, elapsed, retry_after in overloaded:
            assert retry_after is not None and int(retry_after) >= 1
            assert elapsed < max(0.5, slowest_ok)  # refused at once, not after queueing
        assert health < 0.5
        # The pool drains and serves again.
        await asyncio.sleep(0.1)
        await login(h.client(), "alice")
