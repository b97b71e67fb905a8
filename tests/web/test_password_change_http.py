"""`POST /auth/password` with a session cookie and with a bearer access token (SEC-04).

The route loads the stored account (with its password hash) whichever way the caller proved itself:
a session's cached record and a bearer token's claims carry no hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import OTHER_PASSWORD, PASSWORD, Harness, add_user, audit_rows, csrf, login, make_app
from ostiary.core.clock import FrozenClock
from ostiary.tokens.service import FIRST_PARTY_CLIENT

CHANGE = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=FrozenClock()) as harness:
        await add_user(harness.services, "alice", roles=["viewer"])
        yield harness


async def token_pair(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", json={"username": "alice", "password": password})


async def tokens(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await token_pair(client)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def logs_in_with(h: Harness, password: str) -> bool:
    response = await h.client().post("/auth/login", json={"username": "alice", "password": password})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def change_as(h: Harness, method: str, body: dict[str, str]) -> httpx.Response:
    if method == "cookie":
        token = await login(h.http, "alice")
        return await h.http.post("/auth/password", json=body, headers=csrf(token))
    access = (await tokens(h.http))["access_token"]
    return await h.client().post("/auth/password", json=body, headers=bearer(access))


@pytest.mark.sec("SEC-04")
@pytest.mark.parametrize("method", ["cookie", "bearer"])
async def test_a_password_change_works_with_a_cookie_and_with_a_bearer_token(h: Harness, method: str) -> None:
    response = await change_as(h, method, CHANGE)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "password_changed"
    assert not await logs_in_with(h, PASSWORD)
    assert await logs_in_with(h, OTHER_PASSWORD)
    assert len(await audit_rows(h.services, "password.change")) == 1


@pytest.mark.sec("SEC-04")
@pytest.mark.parametrize("method", ["cookie", "bearer"])
async def test_a_wrong_current_password_changes_nothing(h: Harness, method: str) -> None:
    before = await h.services.users.find_by_login("alice")
    assert before is not None
    response = await change_as(h, method, {**CHANGE, "current_password": "not my password at all"})
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "The current password is not correct."
    after = await h.services.users.get(before.id)
    assert after is not None
    assert after.password_hash == before.password_hash


@pytest.mark.sec("SEC-04")
async def test_a_bearer_change_sets_no_cookie_and_revokes_every_refresh_token(h: Harness) -> None:
    pair = await tokens(h.http)
    other = await tokens(h.http)
    browser = h.client()
    await login(browser, "alice")
    response = await h.client().post("/auth/password", json=CHANGE, headers=bearer(pair["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json()["csrf_token"] is None
    assert "set-cookie" not in response.headers
    for refresh_token in (pair["refresh_token"], other["refresh_token"]):
        refreshed = await h.http.post("/auth/token/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 400
    assert (await browser.get("/auth/me")).status_code == 401  # sessions end too
    assert (await token_pair(h.http, OTHER_PASSWORD)).status_code == 200


@pytest.mark.sec("SEC-12")
async def test_a_bearer_token_of_a_disabled_user_cannot_change_the_password(h: Harness) -> None:
    access = (await tokens(h.http))["access_token"]
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None
    await h.services.users.update(alice.id, disabled=True)
    response = await h.client().post("/auth/password", json=CHANGE, headers=bearer(access))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    after = await h.services.users.get(alice.id)
    assert after is not None
    assert after.password_hash == alice.password_hash


@pytest.mark.parametrize(
    ("client_id", "error"),
    [
        ("reporting-service", "delegated_token_not_allowed"),  # refused at the bearer edge
        (FIRST_PARTY_CLIENT, "not_a_user"),  # a client principal that got past it: refused here
    ],
)
async def test_a_client_token_cannot_change_a_password(h: Harness, client_id: str, error: str) -> None:
    services = h.services
    client_token = (
        await services.tokens.issuer.issue(client_id, services.tokens.audience, client_id, "docs:read")
    ).token
    response = await h.client().post("/auth/password", json=CHANGE, headers=bearer(client_token))
    assert response.status_code == 403
    assert response.json()["error"] == error
