"""A bounded thread pool for password hashing, so a login flood cannot stall the event loop.

argon2id costs tens of milliseconds of CPU and ~19 MiB per call and blocks the calling thread, so
it runs in a ThreadPoolExecutor (argon2-cffi releases the GIL, so threads hash in parallel). The
pool admits at most `workers + queue_limit` jobs; one more is refused at once with `Overloaded`
(HTTP 503 + Retry-After) instead of queueing without bound: a queued login that would answer
after the client gave up is pure waste, and an unbounded queue is unbounded memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ostiary.authn.hashers import PasswordHashers, VerifyResult
from ostiary.core.errors import Overloaded

T = TypeVar("T")


class HashingPool:
    def __init__(self, workers: int = 0, queue_limit: int = 32) -> None:
        if workers < 0 or queue_limit < 0:
            raise ValueError("workers and queue_limit must not be negative")
        self.workers = workers or os.cpu_count() or 1
        self.capacity = self.workers + queue_limit
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="ostiary-hash"
        )
        # A lock, not just the event loop, guards the counter: jobs finish on worker threads, and
        # the pool may be shared by several event loops (one per thread) in embedded use.
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Jobs admitted and not yet finished (running or queued)."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the pool; raise Overloaded at once if the pool is full."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise Overloaded(retry_after=1)
            self._in_flight += 1
        try:
            job = self._executor.submit(functools.partial(fn, *args))
        except BaseException:
            self._release()
            raise
        # Release when the job itself finishes, not when the awaiting coroutine does: a cancelled
        # request (client went away) leaves its hash still running, and that thread is still busy.
        # This is why we submit and wrap the future ourselves instead of loop.run_in_executor(),
        # which does the same but hides the concurrent future.
        job.add_done_callback(self._release)
        return await asyncio.wrap_future(job)

    def _release(self, _job: object = None) -> None:
        with self._lock:
            self._in_flight -= 1

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting jobs; cancel queued ones; by default wait for running ones."""
        self._executor.shutdown(wait=wait, cancel_futures=True)


class AsyncPasswordHashers:
    """What the login and registration services call: PasswordHashers run on the HashingPool."""

    def __init__(self, hashers: PasswordHashers, pool: HashingPool) -> None:
        self.hashers = hashers
        self.pool = pool

    async def hash(self, password: str) -> str:
        return await self.pool.run(self.hashers.hash, password)

    async def verify(self, password: str, encoded: str) -> VerifyResult:
        return await self.pool.run(self.hashers.verify, password, encoded)

    async def dummy_verify(self, password: str) -> bool:
        return await self.pool.run(self.hashers.dummy_verify, password)

    async def verify_user(self, password: str, encoded: str | None) -> VerifyResult:
        """Verify against a user's hash, or burn a dummy verify when there is no such user (SEC-64).

        Callers then treat both failures the same way (one generic InvalidCredentials).
        """
        if encoded is None:
            await self.dummy_verify(password)
            return VerifyResult(ok=False)
        return await self.verify(password, encoded)
