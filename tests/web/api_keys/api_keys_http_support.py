"""Builders of the API-key HTTP tests: a logged-in demo user, a key created through the API, SQL
statement capture, and the two ways of presenting a key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import event

from helpers import Harness, csrf, login
from ostiary.compose.realm import demo_users
from ostiary.storage.sqlalchemy.database import Database

DEMO_PASSWORDS = {u["username"]: u["password"] for u in demo_users()}


@dataclass
class Holder:
    """A user logged in on their own client, with the session's CSRF token."""

    client: httpx.AsyncClient
    token: str

    async def create_key(self, scopes: list[str], *, expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {"name": fields.pop("name", "ci"), "scopes": scopes, **fields}
        response = await self.client.post("/auth/api-keys", json=body, headers=csrf(self.token))
        assert response.status_code == expect, response.text
        data: dict[str, Any] = response.json()
        return data

    async def rotate(self, key_id: str, grace: int = 0) -> httpx.Response:
        return await self.client.post(
            f"/auth/api-keys/{key_id}/rotate", json={"grace_seconds": grace}, headers=csrf(self.token)
        )

    async def revoke(self, key_id: str) -> httpx.Response:
        return await self.client.delete(f"/auth/api-keys/{key_id}", headers=csrf(self.token))


async def holder(h: Harness, username: str) -> Holder:
    client = h.client()
    return Holder(client, await login(client, username, DEMO_PASSWORDS[username]))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def x_api_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def call(h: Harness, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    """A request from a client with no cookies: only the key speaks."""
    return await h.http.request(method, path, headers=headers, **kwargs)


@contextmanager
def sql_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement `db` runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
