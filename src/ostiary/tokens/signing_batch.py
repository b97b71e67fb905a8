"""JWS signing in batches: the tokens asked for within one event-loop step are signed back to back.

Why. Under load, an ES256 signature inside a token request cost the bench machine about 2–3 times
what it costs in a tight loop (~30 µs): between two signatures, the rest of a request's Python work
and the kernel's networking push OpenSSL's P-256 code and precomputed tables out of the CPU caches.
Signed one after another, only the first signature of a batch pays for that. With the signature
alone taken out of the request, client_credentials ran ~1.5 times faster (bench/README.md): the
signature was a third of the request, most of it cache misses.

How. `encode` queues the job and awaits its future. The first job of an event-loop step schedules
`_flush` with `call_soon`, which runs after the callbacks already queued for that step: under load,
the tasks of the other requests whose bytes arrived together, which reach their own signature and
queue it first. `_flush` signs every queued job with PyJWS, as an unbatched call would (nothing about
the JOSE changes), and resolves the futures. A failing job fails its own future only; a job whose
request was cancelled is skipped. The cost is one event-loop step of latency; one request at a time
makes batches of one.

Jobs are kept per event loop, so one `SigningBatch` serves any loop (tests run many); the jobs of a
loop closed before its flush ran are dropped when the next batch starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

Encode = Callable[..., str]  # jwt.api_jws.encode's signature: (payload, key, algorithm=, headers=)


@dataclass(frozen=True)
class _Job:
    future: asyncio.Future[str]
    payload: bytes
    key: Any
    alg: str
    headers: dict[str, Any]


class SigningBatch:
    def __init__(self, encode: Encode = jwt.api_jws.encode) -> None:
        self._encode = encode
        self._queued: dict[asyncio.AbstractEventLoop, list[_Job]] = {}

    async def encode(self, payload: bytes, key: Any, alg: str, headers: dict[str, Any]) -> str:
        """The compact JWS of `payload` signed with `key`, as `jwt.api_jws.encode` returns it."""
        loop = asyncio.get_running_loop()
        queued = self._queued.get(loop)
        if queued is None:
            self._forget_closed_loops()
            queued = self._queued[loop] = []
            loop.call_soon(self._flush, loop)
        job = _Job(loop.create_future(), payload, key, alg, headers)
        queued.append(job)
        return await job.future

    def _forget_closed_loops(self) -> None:
        """A loop closed between a job and its flush never runs the flush; its jobs go with it."""
        for closed in [loop for loop in self._queued if loop.is_closed()]:
            del self._queued[closed]

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        for job in self._queued.pop(loop, ()):
            if job.future.done():  # the request was cancelled while it waited
                continue
            try:
                token = self._encode(job.payload, job.key, algorithm=job.alg, headers=job.headers)
            except Exception as exc:  # handed to the one request it belongs to
                job.future.set_exception(exc)
            else:
                job.future.set_result(token)
