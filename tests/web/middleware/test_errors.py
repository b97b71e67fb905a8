"""The error handler: generic 500s, store outages as 503, domain errors as themselves."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message

from ostiary.web.middleware.errors import is_store_unavailable

from ._support import FakeOperationalError, make_app


@pytest.mark.sec("SEC-71")
async def test_unexpected_exception_is_a_generic_500_and_the_worker_survives(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ostiary.errors")
    response = await client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body == {
        "error": "server_error",
        "message": "An unexpected error occurred.",
        "request_id": response.headers["x-request-id"],
    }
    for leak in ("secret", "/etc/passwd", "SELECT", "Traceback", "RuntimeError", "starlette", "python"):
        assert leak not in response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    # The traceback went to the log, tagged with the request id.
    (record,) = [r for r in caplog.records if r.name == "ostiary.errors"]
    assert record.exc_info is not None
    assert record.__dict__["request_id"] == body["request_id"]
    # The next request is served normally.
    assert (await client.get("/ip")).status_code == 200


@pytest.mark.sec("SEC-77")
@pytest.mark.parametrize("path", ["/fake-db", "/real-db", "/wrapped-db", "/store-down"])
async def test_store_outage_is_503_with_retry_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "unavailable"
    assert "SELECT" not in response.text
    assert "5432" not in response.text


async def test_rate_limited_carries_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.json()["error"] == "rate_limited"


@pytest.mark.sec("SEC-71")
async def test_failure_after_the_response_started_is_logged_not_raised(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    # Called without httpx: its transport insists on complete responses, while a real server simply
    # closes the connection, which is what a client must see (not a truncated body that looks whole).
    caplog.set_level(logging.ERROR, logger="ostiary.errors")
    app = make_app(registry)
    sent: list[Message] = []

    requested = False

    async def receive() -> Message:
        nonlocal requested
        if requested:  # then wait for a disconnect that never comes, like a live client
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/late",
        "raw_path": b"/late",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)  # does not raise
    assert sent[0]["status"] == 200
    assert not any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent)
    assert any("after the response started" in r.getMessage() for r in caplog.records)


@pytest.mark.sec("SEC-78")
def test_store_unavailable_classification() -> None:
    redis_down = type("ConnectionError", (Exception,), {"__module__": "redis.exceptions"})
    assert is_store_unavailable(redis_down())
    assert is_store_unavailable(FakeOperationalError())
    assert is_store_unavailable(TimeoutError())
    assert is_store_unavailable(ExceptionGroup("g", [ValueError(), ConnectionRefusedError()]))
    lookalike = type("OperationalError", (Exception,), {"__module__": "myapp.errors"})
    assert not is_store_unavailable(lookalike())
    assert not is_store_unavailable(RuntimeError("x"))
    cyclic = ValueError("a")
    cyclic.__context__ = KeyError("b")
    cyclic.__context__.__context__ = cyclic
    assert not is_store_unavailable(cyclic)
