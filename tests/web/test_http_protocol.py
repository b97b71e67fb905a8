"""The coalescing uvicorn protocol: one send per response, nothing reordered or lost (web/http_protocol.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from ostiary.web.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 9) if name == "peername" else default


async def test_writes_of_one_step_leave_as_one_write_in_order() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(bytearray(b"body"))
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"next"]


async def test_close_sends_what_is_pending_first_and_later_writes_are_dropped() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.write(b"tail")
    transport.close()
    assert (inner.writes, inner.closed) == ([b"headtail"], True)
    transport.write(b"late")
    await asyncio.sleep(0)
    assert inner.writes == [b"headtail"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 9)  # the rest is passed through


# ------------------------------------------------------------------ a real uvicorn server on loopback

SENDS: list[int] = []


class CountingProtocol(CoalescingHttpToolsProtocol):
    """Counts the writes that reach the socket's transport, per connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        real_write = transport.write

        def counted(data: Any) -> None:
            SENDS.append(len(data))
            real_write(data)

        transport.write = counted  # type: ignore[method-assign]
        super().connection_made(transport)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/stream":  # a body in parts, with awaits between them: each part is sent when sent
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    size = int(path.strip("/") or 2)
    body = b"x" * size
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % size)]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving() -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=CountingProtocol, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def test_a_response_leaves_in_one_send_over_keep_alive() -> None:
    async with serving() as base, httpx.AsyncClient(base_url=base) as client:
        SENDS.clear()
        for size in (2, 10, 3000):
            response = await client.get(f"/{size}")
            assert response.content == b"x" * size
        assert len(SENDS) == 3  # head and body together, one send each


async def test_many_concurrent_requests_get_their_own_complete_answers() -> None:
    async with serving() as base, httpx.AsyncClient(base_url=base) as client:
        sizes = [1 + (i * 7919) % 200_000 for i in range(60)]
        responses = await asyncio.gather(*(client.get(f"/{n}") for n in sizes))
        assert [len(r.content) for r in responses] == sizes
        assert all(r.content == b"x" * n for r, n in zip(responses, sizes, strict=True))


async def test_a_streamed_body_is_sent_part_by_part() -> None:
    async with serving() as base, httpx.AsyncClient(base_url=base) as client:
        SENDS.clear()
        async with client.stream("GET", "/stream") as response:
            chunks = [chunk async for chunk in response.aiter_raw()]
        assert b"".join(chunks) == b"part0;part1;part2;"
        assert len(SENDS) >= 3  # not held back until the end


@pytest.mark.parametrize("requests", [2, 5])
async def test_pipelined_requests_are_answered_in_order(requests: int) -> None:
    async with serving() as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sizes = [3 + i for i in range(requests)]
        writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in sizes))
        await writer.drain()
        received = b""
        expected = sum(n for n in sizes)
        while received.count(b"HTTP/1.1 200") < requests or received.count(b"x") < expected:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, received
            received += chunk
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in received.split(b"HTTP/1.1 200 OK\r\n")[1:]]
        assert bodies == [b"x" * n for n in sizes]
        writer.close()
