"""Cost of authentication on a protected endpoint, and token issue / refresh throughput (issue 3).

Method: the ASGI app runs in-process and is driven through `httpx.ASGITransport` by C concurrent
async clients on one event loop (no sockets, loopback only by construction), so the numbers compare
the app's own work per request; every figure below comes from this one run on this machine.

1. GET /auth/me with a bearer JWT vs GET /healthz (unauthenticated): cold verification (cache off)
   target ≥ 60%, with the verified-token cache target ≥ 85%.
2. GET /auth/me with a session cookie vs /healthz, SQLite session store, and Redis store (when
   `redis-server` is on PATH or OSTIARY_BENCH_REDIS_URL is set): target ≥ 75% with Redis. The user's
   principal comes from the per-user cache (the authorization version is re-read at most once a
   second) and the session record from the worker-local session cache (push-invalidated, ≤ 1 s);
   the last lines show the Redis store with the version read from SQL on every request, and with
   the session cache off (one Redis read per request).
3. Token issue (family + signed JWT, no password hashing) and refresh (HTTP) per second.

Every loop is bounded in count and in time. Usage: python bench/tokens_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from ostiary.compose.services import Services, build_services
from ostiary.core.context import RequestMeta
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.users import NewUser
from ostiary.web.app import create_app

PASSWORD = "violet kettle drums at midnight"
BASE = "http://127.0.0.1:8000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Any:
    url = os.environ.get("OSTIARY_BENCH_REDIS_URL")
    if url:
        yield url
        return
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


@contextlib.asynccontextmanager
async def app_with(
    data_dir: Path, redis_url: str | None = None
) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        issuer=BASE,
        redis_url=redis_url,
        argon2_memory_kib=8192,
        argon2_time_cost=1,
        rate_limit_enabled=False,
        log_level="warning",
    )
    services = await build_services(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url=BASE)
    try:
        yield services, client
    finally:
        await client.aclose()
        await services.close()


async def throughput(
    call: Callable[[], Awaitable[Any]], count: int, concurrency: int, limit_s: float
) -> float:
    """Calls per second over at most `count` calls or `limit_s` seconds, whichever ends first."""
    for _ in range(min(20, count)):  # warm up
        await call()
    done = 0
    deadline = time.perf_counter() + limit_s
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        while done < count and time.perf_counter() < deadline:
            done += 1
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


async def interleaved(
    base: Callable[[], Awaitable[Any]],
    measured: Callable[[], Awaitable[Any]],
    count: int,
    concurrency: int,
    limit_s: float,
    rounds: int = 3,
) -> tuple[float, float]:
    """Both rates from alternating rounds (base, measured, base, …): on a shared machine the load
    changes within seconds, and a ratio of two lines run a minute apart mostly measures that."""
    rates: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for rate_list, call in zip(rates, (base, measured), strict=True):
            rate_list.append(await throughput(call, count // rounds, concurrency, limit_s / rounds))
    return sum(rates[0]) / rounds, sum(rates[1]) / rounds


def get(client: httpx.AsyncClient, path: str, **headers: str) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        response = await client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    return call


async def run(quick: bool) -> None:
    count, conc, limit = (200, 4, 2.0) if quick else (4000, 8, 10.0)
    print(
        f"method: in-process ASGI (httpx.ASGITransport), {conc} concurrent clients, ≤{count} requests or {limit:.0f} s per line"
    )
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        async with app_with(Path(tmp) / "sqlite") as (services, client):
            user = NewUser(
                "bench-user", "bench", None, await services.hashers.hash(PASSWORD), services.clock.now()
            )
            await services.users.create(user)
            tokens = (
                await client.post("/auth/token", json={"username": "bench", "password": PASSWORD})
            ).json()
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            # Each protected line alternates with its own /healthz rounds (see `interleaved`).
            health = get(client, "/healthz")
            bearer = services.tokens.bearer
            size, bearer.cache_size = bearer.cache_size, 0
            base, cold = await interleaved(health, get(client, "/auth/me", **auth), count, conc, limit)
            rows.append(("/healthz (unauthenticated, baseline)", base, 1.0, ""))
            rows.append(("/auth/me bearer, cold verification", cold, cold / base, "≥ 60%"))
            bearer.cache_size = size
            base_w, warm = await interleaved(health, get(client, "/auth/me", **auth), count, conc, limit)
            rows.append(("/auth/me bearer, verified-token cache", warm, warm / base_w, "≥ 85%"))
            await client.post("/auth/login", json={"username": "bench", "password": PASSWORD})
            sql = await throughput(get(client, "/auth/me"), count, conc, limit)
            rows.append(("/auth/me session cookie, SQLite store", sql, sql / base, ""))
            client.cookies.clear()

            pairs = [tokens["refresh_token"]]

            async def issue() -> None:
                pair = await services.tokens.service.login(
                    user.id, RequestMeta(), auth_time=services.clock.now()
                )
                pairs.append(pair.refresh_token)

            issued = await throughput(issue, count // 4, conc, limit)
            rows.append(("token issue (family + JWT, no argon2) /s", issued, 0.0, ""))
            queue = list(pairs)

            async def refresh() -> None:
                response = await client.post("/auth/token/refresh", json={"refresh_token": queue.pop()})
                if response.status_code != 200:
                    raise RuntimeError(f"refresh: {response.status_code} {response.text[:200]}")
                queue.insert(0, response.json()["refresh_token"])

            refreshed = await throughput(refresh, count // 4, conc, limit)
            rows.append(("token refresh over HTTP /s", refreshed, 0.0, ""))
        if redis_url is None:
            rows.append(("/auth/me session cookie, Redis store", 0.0, 0.0, "skipped: no redis-server"))
        else:
            async with app_with(Path(tmp) / "redis", redis_url) as (services, client):
                user = NewUser(
                    "bench-user", "bench", None, await services.hashers.hash(PASSWORD), services.clock.now()
                )
                await services.users.create(user)
                await client.post("/auth/login", json={"username": "bench", "password": PASSWORD})
                base_r, red = await interleaved(
                    get(client, "/healthz"), get(client, "/auth/me"), count, conc, limit
                )
                rows.append(("/healthz, Redis app (interleaved)", base_r, 1.0, ""))
                rows.append(("/auth/me session cookie, Redis store", red, red / base_r, "≥ 75%"))
                # For comparison: the authorization version read from SQL on every request.
                watch = services.authz.watch
                bound, watch.max_staleness = watch.max_staleness, 0.0
                strict = await throughput(get(client, "/auth/me"), count, conc, limit)
                watch.max_staleness = bound
                rows.append(("  … version read on every request", strict, strict / base_r, ""))
                # For comparison: the session read from Redis on every request (worker-local cache off).
                store = services.redis_sessions
                assert store is not None
                cache, store.cache = store.cache, None
                uncached = await throughput(get(client, "/auth/me"), count, conc, limit)
                store.cache = cache
                rows.append(("  … session cache off (Redis read each time)", uncached, uncached / base_r, ""))
    print(f"{'line':<44} {'req/s':>10} {'ratio':>8}  target")
    for name, rate, ratio, target in rows:
        shown = f"{ratio:7.0%}" if ratio else "      -"
        print(f"{name:<44} {rate:>10.0f} {shown:>8}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of a few seconds")
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(run(args.quick))
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
