"""Request hygiene: method blocklist, CR/LF in headers, body size (SEC-68, SEC-69)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from ostiary.web.middleware.body_limit import BodyLimitMiddleware

from ._support import client_for, make_app


@pytest.fixture
async def small() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(max_body_bytes=1024)) as c:
        yield c


@pytest.mark.sec("SEC-68")
@pytest.mark.parametrize("method", ["TRACE", "TRACK", "CONNECT"])
async def test_refused_methods(small: httpx.AsyncClient, method: str) -> None:
    response = await small.request(method, "/ip")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "server" not in response.headers


@pytest.mark.sec("SEC-69")
async def test_declared_length_over_the_limit(small: httpx.AsyncClient) -> None:
    response = await small.post("/echo", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert (await small.post("/echo", content=b"x" * 1024)).json() == {"size": 1024}


@pytest.mark.sec("SEC-69")
async def test_streamed_chunked_body_over_the_limit(small: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 300

    response = await small.post("/echo", content=chunks())
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


@pytest.mark.sec("SEC-69")
@pytest.mark.parametrize("value", [b"1025, 1", b"-1", b"abc"])
async def test_unusable_content_length(value: bytes) -> None:
    status = await call_raw(BodyLimitMiddleware(ok_app, max_bytes=10_000), [(b"content-length", value)])
    assert status == 400


@pytest.mark.sec("SEC-69")
@pytest.mark.parametrize(
    "header",
    [(b"x-name", b"bob\r\nSet-Cookie: a=b"), (b"x-name", b"bob\nx"), (b"x-a\r\nb", b"1"), (b"x", b"\x00")],
)
async def test_crlf_in_a_header_is_rejected(header: tuple[bytes, bytes]) -> None:
    # httpx refuses to send such headers, so the ASGI scope is built by hand.
    assert await call_raw(BodyLimitMiddleware(ok_app), [header]) == 400


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def call_raw(app: BodyLimitMiddleware, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "state": {}}
    await app(scope, receive, send)
    return int(sent[0]["status"])
