"""Login throughput against the raw cost of argon2, and how a login flood affects other requests.

Measured in one run on this machine, over real HTTP to an `ostiary serve` process on loopback:

1. t(argon2): single-thread verify time at the configured parameters; 1/t is the most logins per
   second one core could ever do. Then logins/s through the server with one hashing worker
   (OSTIARY_HASH_WORKERS=1), so the ratio is "logins per second per core / (1/t)". Target ≥ 0.9.
2. /healthz throughput unloaded, then during a flood of concurrent logins. Target ≥ 70%.

Every loop is bounded in count and in time. Usage: python bench/login_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ostiary.authn.hashers import Argon2idHasher

MEMORY_KIB, TIME_COST = 19456, 2  # the shipped defaults (OWASP)
PASSWORD = "orange kettle harbour"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def argon2_verify_seconds(samples: int) -> float:
    hasher = Argon2idHasher(TIME_COST, MEMORY_KIB, 1)
    encoded = hasher.hash(PASSWORD)
    hasher.verify(PASSWORD, encoded)  # warm up
    start = time.perf_counter()
    for _ in range(samples):
        hasher.verify(PASSWORD, encoded)
    return (time.perf_counter() - start) / samples


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            OSTIARY_DATA_DIR=str(data_dir), OSTIARY_HASH_WORKERS="1", OSTIARY_HASH_QUEUE_LIMIT="256",
            OSTIARY_RATE_LIMIT_ENABLED="false", OSTIARY_LOG_LEVEL="warning",
            OSTIARY_ARGON2_MEMORY_KIB=str(MEMORY_KIB), OSTIARY_ARGON2_TIME_COST=str(TIME_COST),
        )  # fmt: skip
        exe = Path(sys.executable).with_name("ostiary")
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--demo", "--port", str(self.port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def wait_ready(self, startup_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + startup_seconds
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(self.base + "/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def logins_per_second(
    base: str, concurrency: int, seconds: float, max_requests: int
) -> tuple[float, int]:
    done = 0
    failures = 0
    stop_at = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, failures
        while time.monotonic() < stop_at and done < max_requests:
            r = await client.post(base + "/auth/login", json={"username": "alice", "password": PASSWORD})
            if r.status_code == 200:
                done += 1
            else:
                failures += 1

    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return done / (time.monotonic() - start), failures


async def healthz_per_second(base: str, seconds: float, max_requests: int, concurrency: int = 4) -> float:
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop_at and done < max_requests:
            r = await client.get(base + "/healthz")
            done += r.status_code == 200

    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return done / (time.monotonic() - start)


async def flood(base: str, seconds: float) -> None:
    await logins_per_second(base, concurrency=16, seconds=seconds, max_requests=100_000)


async def run(quick: bool) -> dict[str, float]:
    phase = 1.5 if quick else 6.0
    t = argon2_verify_seconds(3 if quick else 20)
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(Path(data_dir))
        try:
            await server.wait_ready()
            rate, failures = await logins_per_second(
                server.base, concurrency=4, seconds=phase, max_requests=5000
            )
            unloaded = await healthz_per_second(server.base, phase, 200_000)
            flood_task = asyncio.create_task(flood(server.base, phase + 1.0))
            await asyncio.sleep(0.5)
            loaded = await healthz_per_second(server.base, phase, 200_000)
            await flood_task
        finally:
            server.stop()
    results = {
        "argon2_verify_ms": t * 1000,
        "argon2_per_core_per_s": 1 / t,
        "logins_per_s_one_hash_worker": rate,
        "login_ratio": rate * t,
        "login_failures": failures,
        "healthz_unloaded_per_s": unloaded,
        "healthz_during_flood_per_s": loaded,
        "flood_ratio": loaded / unloaded if unloaded else 0.0,
    }
    print(
        f"argon2id m={MEMORY_KIB} KiB t={TIME_COST} p=1: {t * 1000:.1f} ms per verify → {1 / t:.1f}/s per core"
    )
    print(
        f"login: {rate:.1f} logins/s with one hashing worker → {rate * t:.2f}× of 1/t(argon2) (target ≥ 0.9)"
    )
    print(f"flood: /healthz {unloaded:.0f}/s unloaded, {loaded:.0f}/s during a 16-way login flood "
          f"→ {results['flood_ratio']:.0%} (target ≥ 70%)")  # fmt: skip
    print("method: real `ostiary serve --demo` process on 127.0.0.1, httpx clients in this process")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    asyncio.run(run(parser.parse_args().quick))
