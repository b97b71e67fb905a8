"""uvicorn's httptools protocol, with the writes of one event-loop step sent as one.

uvicorn writes a response's status line and headers when the app sends `http.response.start`, and
the body on `http.response.body`: two `send` system calls per response, whose cost under load was
about a tenth of a token request (bench/README.md). The app sends both messages without yielding to
the event loop in between, so collecting the writes of one step and sending them at the end of the
step (`loop.call_soon`) makes them one system call, with no added wait. Closing the connection
sends what is pending first; everything else the protocol asks of its transport is passed through.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose `write` calls within one event-loop step leave in one `write` of the
    wrapped transport, in order."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's `HttpToolsProtocol`, writing through a `CoalescingTransport` (pass the class as
    uvicorn's `http` setting)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control (pause/resume reading, write-buffer limits) stays on the real transport.
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]
