"""The onion inside a FastAPI app, the way the server mounts it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from starlette.middleware import Middleware

from ostiary.core.errors import NotFound
from ostiary.web.middleware import MiddlewareConfig, MiddlewareStack

from ._support import client_for


class Item(BaseModel):
    name: str


def make_fastapi() -> FastAPI:
    config = MiddlewareConfig(max_body_bytes=1024)
    app = FastAPI(middleware=[Middleware(MiddlewareStack, config=config, registry=CollectorRegistry())])

    @app.post("/items")
    async def create(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        raise NotFound()

    return app


@pytest.mark.sec("SEC-69")
async def test_streamed_body_over_the_limit_is_413_through_fastapi_parsing() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"z" * 200
        yield b'"}'

    async with client_for(make_fastapi()) as client:
        response = await client.post("/items", content=chunks(), headers={"Content-Type": "application/json"})
        ok = await client.post("/items", json={"name": "a"})
    assert response.status_code == 413
    assert ok.json() == {"name": "a"}


async def test_domain_errors_and_validation_keep_their_status() -> None:
    async with client_for(make_fastapi()) as client:
        missing = await client.get("/items/7")
        invalid = await client.get("/items/not-a-number")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert invalid.status_code == 422  # FastAPI's own handler, inside the onion
    assert invalid.headers["x-content-type-options"] == "nosniff"
