"""Cost of authentication on a protected endpoint, and token issue / refresh throughput (issue 3).

Method: the ASGI app runs in-process and is driven through `httpx.ASGITransport` on one event loop
(no sockets, loopback only by construction); every figure below comes from this one run on this
machine. A ratio line alternates its calls one by one with /healthz from one client, each call
timed alone (`interleaved`): base time over measured time is the protected request's throughput
relative to the unauthenticated one, measured side by side so that the machine's drift cancels.
Issue and refresh rates run C concurrent clients.

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
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
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
BLOCKS = 3  # blocks of alternating calls per ratio line (`interleaved`)


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


@dataclass(frozen=True)
class Paired:
    """A protected line against its baseline, from calls alternating one by one."""

    base: float  # req/s of the baseline calls (one client)
    measured: float  # req/s of the measured calls (one client)
    ratios: tuple[float, ...]  # the cost ratio (base time / measured time) of each block

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def spread(self) -> str:
        return f"{min(self.ratios):.1%}–{max(self.ratios):.1%} over {len(self.ratios)} blocks"


async def interleaved(
    base: Callable[[], Awaitable[Any]],
    measured: Callable[[], Awaitable[Any]],
    count: int,
    limit_s: float,
    blocks: int = BLOCKS,
) -> Paired:
    """The two calls alternate one by one (base, measured, measured, base, … so neither is always
    first), each timed alone, in `blocks` blocks of at most `count // blocks` pairs or
    `limit_s / blocks` seconds; the ratio is the median block's base time over measured time.

    Why not two throughput runs: on this shared machine the speed moves by ±30% within seconds,
    so two lines run even a second apart differ by more than the effect measured (alternating
    rounds of ~0.5 s still gave single-round ratios from 72% to 108% for one line). Side by side,
    call by call, both see the same machine, and blocks of a few seconds agree within ~1%."""
    for _ in range(min(20, count)):  # warm up
        await base()
        await measured()
    base_total = measured_total = 0.0
    done = 0
    ratios: list[float] = []
    per_block = max(1, count // blocks)
    for _ in range(blocks):
        spent = {base: 0.0, measured: 0.0}
        deadline = time.perf_counter() + limit_s / blocks
        pairs = 0
        while pairs < per_block and time.perf_counter() < deadline:
            order = (base, measured) if pairs % 2 else (measured, base)
            for call in order:
                started = time.perf_counter()
                await call()
                spent[call] += time.perf_counter() - started
            pairs += 1
        ratios.append(spent[base] / spent[measured])
        base_total += spent[base]
        measured_total += spent[measured]
        done += pairs
    return Paired(done / base_total, done / measured_total, tuple(ratios))


def get(client: httpx.AsyncClient, path: str, **headers: str) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        response = await client.get(path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    return call


async def run(quick: bool) -> None:
    count, conc, limit = (200, 4, 2.0) if quick else (8000, 8, 12.0)
    blocks = 1 if quick else BLOCKS
    print(
        f"method: in-process ASGI (httpx.ASGITransport); ratios from one client alternating each call "
        f"with /healthz ({blocks} blocks, ≤{count} pairs or {limit:.0f} s per line); issue and refresh "
        f"rates with {conc} concurrent clients"
    )
    rows: list[tuple[str, float, float, str]] = []  # name, req/s, ratio (0: none), target and spread

    def paired(name: str, line: Paired, target: str = "") -> None:
        rows.append((name, line.measured, line.ratio, f"{target}  ({line.spread})".strip()))

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
            health = get(client, "/healthz")
            bearer = services.tokens.bearer
            size, bearer.cache_size = bearer.cache_size, 0
            cold = await interleaved(health, get(client, "/auth/me", **auth), count, limit, blocks)
            rows.append(("/healthz (unauthenticated, baseline)", cold.base, 1.0, ""))
            paired("/auth/me bearer, cold verification", cold, "≥ 60%")
            bearer.cache_size = size
            warm = await interleaved(health, get(client, "/auth/me", **auth), count, limit, blocks)
            paired("/auth/me bearer, verified-token cache", warm, "≥ 85%")
            await client.post("/auth/login", json={"username": "bench", "password": PASSWORD})
            sql = await interleaved(health, get(client, "/auth/me"), count, limit, blocks)
            paired("/auth/me session cookie, SQLite store", sql)
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
                health, me = get(client, "/healthz"), get(client, "/auth/me")
                paired(
                    "/auth/me session cookie, Redis store",
                    await interleaved(health, me, count, limit, blocks),
                    "≥ 75%",
                )
                # For comparison: the authorization version read from SQL on every request.
                watch = services.authz.watch
                bound, watch.max_staleness = watch.max_staleness, 0.0
                paired(
                    "  … version read on every request", await interleaved(health, me, count, limit, blocks)
                )
                watch.max_staleness = bound
                # For comparison: the session read from Redis on every request (worker-local cache off).
                store = services.redis_sessions
                assert store is not None
                cache, store.cache = store.cache, None
                uncached = await interleaved(health, me, count, limit, blocks)
                paired("  … session cache off (Redis read each time)", uncached)
                store.cache = cache
    print(f"{'line':<44} {'req/s':>10} {'ratio':>8}  target")
    for name, rate, ratio, target in rows:
        shown = f"{ratio:7.1%}" if ratio else "      -"
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
