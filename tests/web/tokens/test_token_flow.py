"""HTTP: /auth/token, refresh, revoke, families — on SQLite and PostgreSQL (SEC-04, SEC-11, SEC-12,
SEC-35, SEC-40, SEC-56, SEC-74, SEC-79)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import OTHER_PASSWORD, PASSWORD, Harness, add_user, audit_rows, login, make_app
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta

LIMITS = {"rate_limit_refresh_per_ip": "1000000/minute"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def h(tmp_path: Path, database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=clock, **LIMITS) as harness:
        await add_user(harness.services, "alice", roles=["viewer"])
        await add_user(harness.services, "bob", email="bob@example.org")
        yield harness


async def get_tokens(client: httpx.AsyncClient, username: str = "alice", **extra: Any) -> dict[str, Any]:
    response = await client.post("/auth/token", json={"username": username, "password": PASSWORD, **extra})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/token/refresh", json={"refresh_token": token})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.sec("SEC-35")
@pytest.mark.sec("SEC-40")
async def test_mobile_flow(h: Harness, clock: FrozenClock) -> None:
    tokens = await get_tokens(h.http)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert tokens["scope"] == "docs:read"
    me = await h.http.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"
    assert me.json()["auth_method"] == "bearer"

    clock.advance(300)
    renewed = await refresh(h.http, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert renewed.headers["cache-control"] == "no-store"
    pair = renewed.json()
    assert pair["refresh_token"] != tokens["refresh_token"]
    assert (await h.http.get("/auth/me", headers=bearer(pair["access_token"]))).status_code == 200

    clock.advance(60)  # past the 10 s retry window: a replay of the old token is theft
    replay = await refresh(h.http, tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert (await refresh(h.http, pair["refresh_token"])).status_code == 400  # the family is dead
    events = await audit_rows(h.services, "token.reuse_detected")
    assert len(events) == 1
    assert "refresh_token" not in str(events[0]["details"])


@pytest.mark.sec("SEC-74")
async def test_parallel_refreshes_leave_one_live_token(h: Harness, clock: FrozenClock) -> None:
    """20 barrier-started HTTP refreshes of one token: every success is the same successor and the
    family has exactly one live token; never two independent lineages. (10 rounds over HTTP here;
    tests/storage/tokens/test_refresh_race.py repeats the race 50 times per backend below HTTP.)"""
    services = h.services
    user = await services.users.find_by_login("alice")
    assert user is not None
    for _ in range(10):
        pair = await services.tokens.service.login(user.id, RequestMeta(), auth_time=services.clock.now())
        clock.advance(590)  # near the access token's expiry: an ordinary, not an early, refresh
        barrier = asyncio.Barrier(20)

        async def go(token: str = pair.refresh_token, gate: asyncio.Barrier = barrier) -> httpx.Response:
            await gate.wait()
            return await refresh(h.http, token)

        responses = await asyncio.gather(*(go() for _ in range(20)))
        ok = [r.json()["refresh_token"] for r in responses if r.status_code == 200]
        assert all(r.status_code in (200, 400) for r in responses)
        assert ok, "at least one refresh must succeed"
        assert len(set(ok)) == 1
        live = await live_tokens(h, pair.family_id)
        assert live == 1
        assert (await refresh(h.http, ok[0])).status_code == 200


async def live_tokens(h: Harness, family_id: str) -> int:
    from sqlalchemy import func, select

    from ostiary.storage.sqlalchemy import tables as t

    query = select(func.count()).where(
        t.refresh_tokens.c.family_id == family_id, t.refresh_tokens.c.state == "active"
    )
    async with h.services.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.sec("SEC-74")
@pytest.mark.sec("SEC-35")
async def test_parallel_reuse_outside_window_revokes_family(h: Harness, clock: FrozenClock) -> None:
    tokens = await get_tokens(h.http)
    successor = (await refresh(h.http, tokens["refresh_token"])).json()["refresh_token"]
    clock.advance(30)
    barrier = asyncio.Barrier(20)

    async def go() -> httpx.Response:
        await barrier.wait()
        return await refresh(h.http, tokens["refresh_token"])

    responses = await asyncio.gather(*(go() for _ in range(20)))
    assert {r.status_code for r in responses} == {400}
    assert (await refresh(h.http, successor)).status_code == 400
    assert len(await audit_rows(h.services, "token.reuse_detected")) == 1


@pytest.mark.sec("SEC-11")
async def test_refresh_past_absolute_expiry(h: Harness, clock: FrozenClock) -> None:
    tokens = await get_tokens(h.http)
    token = tokens["refresh_token"]
    for _ in range(3):  # used every 9 days: the 14-day idle limit never hits, the 30-day one does
        clock.advance(9 * 86400)
        response = await refresh(h.http, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]
    clock.advance(3 * 86400)
    assert (await refresh(h.http, token)).status_code == 400


@pytest.mark.sec("SEC-12")
async def test_disabled_user_cannot_refresh(h: Harness) -> None:
    tokens = await get_tokens(h.http)
    user = await h.services.users.find_by_login("alice")
    assert user is not None
    await h.services.accounts.set_disabled(user.id, True, "admin", RequestMeta())
    assert (await refresh(h.http, tokens["refresh_token"])).status_code == 400
    assert await h.services.tokens.refresh.families(user.id) == []


@pytest.mark.sec("SEC-12")
async def test_user_disabled_behind_the_stores_back_cannot_refresh(h: Harness) -> None:
    tokens = await get_tokens(h.http)
    user = await h.services.users.find_by_login("alice")
    assert user is not None
    await h.services.users.update(user.id, disabled=True)  # e.g. a realm import
    assert (await refresh(h.http, tokens["refresh_token"])).status_code == 400


@pytest.mark.sec("SEC-04")
async def test_password_change_revokes_refresh_tokens(h: Harness) -> None:
    tokens = await get_tokens(h.http)
    browser = h.client()
    csrf_token = await login(browser, "alice")
    changed = await browser.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers={"X-CSRF-Token": csrf_token},
    )
    assert changed.status_code == 200, changed.text
    assert (await refresh(h.http, tokens["refresh_token"])).status_code == 400


async def test_lockout_revokes_refresh_tokens(h: Harness) -> None:
    tokens = await get_tokens(h.http)
    for _ in range(5):
        response = await h.http.post("/auth/token", json={"username": "alice", "password": "wrong"})
        assert response.status_code in (401, 429)
    assert (await refresh(h.http, tokens["refresh_token"])).status_code == 400


async def test_token_endpoint_errors_are_generic_and_audited(h: Harness) -> None:
    wrong = await h.http.post("/auth/token", json={"username": "alice", "password": "nope"})
    unknown = await h.http.post("/auth/token", json={"username": "zed", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]
    assert len(await audit_rows(h.services, "login.failure")) == 2
    narrowed = await get_tokens(h.http, scope="docs:read users:manage")
    assert narrowed["scope"] == "docs:read"  # only what the user holds


async def test_revoke_always_200_and_kills_the_family(h: Harness) -> None:
    tokens = await get_tokens(h.http)
    assert (await h.http.post("/auth/token/revoke", json={"refresh_token": "ort_nope"})).status_code == 200
    assert (await h.http.post("/auth/token/revoke", json={})).status_code == 200
    revoked = await h.http.post("/auth/token/revoke", json={"refresh_token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert (await refresh(h.http, tokens["refresh_token"])).status_code == 400


@pytest.mark.sec("SEC-56")
async def test_families_are_per_user(h: Harness) -> None:
    alice = await get_tokens(h.http)
    bob = await get_tokens(h.http, "bob")
    listed = await h.http.get("/auth/token/families", headers=bearer(alice["access_token"]))
    assert listed.status_code == 200
    (family,) = listed.json()["families"]
    assert family["current"] is True
    assert family["device"]
    bob_family = (await h.http.get("/auth/token/families", headers=bearer(bob["access_token"]))).json()[
        "families"
    ][0]["id"]
    # Bob cannot revoke Alice's family: 404, and hers still works.
    stolen = await h.http.post(
        f"/auth/token/families/{family['id']}/revoke", headers=bearer(bob["access_token"])
    )
    assert stolen.status_code == 404
    # A bearer caller needs no CSRF token (no ambient authority); Bob revokes his own.
    own = await h.http.post(f"/auth/token/families/{bob_family}/revoke", headers=bearer(bob["access_token"]))
    assert own.status_code == 204
    assert (await refresh(h.http, bob["refresh_token"])).status_code == 400
    assert (await refresh(h.http, alice["refresh_token"])).status_code == 200


async def test_cookie_mode(h: Harness, clock: FrozenClock) -> None:
    spa = h.client()
    response = await spa.post("/auth/token", json={"username": "alice", "password": PASSWORD, "cookie": True})
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    cookies = response.headers.get_list("set-cookie")
    refresh_cookie = next(c for c in cookies if c.startswith("ostiary_refresh="))
    lowered = refresh_cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "path=/auth/token" in lowered
    # Without the CSRF header the cookie alone does nothing.
    assert (await spa.post("/auth/token/refresh")).status_code == 403
    clock.advance(1)
    ok = await spa.post("/auth/token/refresh", headers={"X-CSRF-Token": body["csrf_token"]})
    assert ok.status_code == 200, ok.text
    assert "refresh_token" not in ok.json()
    assert ok.json()["csrf_token"] != body["csrf_token"]
    out = await spa.post("/auth/token/revoke", headers={"X-CSRF-Token": ok.json()["csrf_token"]})
    assert out.status_code == 200
    assert any(c.startswith('ostiary_refresh=""') for c in out.headers.get_list("set-cookie"))


async def test_cross_origin_token_request_refused(h: Harness) -> None:
    response = await h.http.post(
        "/auth/token",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


@pytest.mark.sec("SEC-79")
async def test_rotated_token_refused_after_restart(tmp_path: Path, database_url: str) -> None:
    clock = FrozenClock()
    async with make_app(tmp_path, database_url, clock=clock, **LIMITS) as first:
        await add_user(first.services, "alice")
        tokens = await get_tokens(first.http)
        successor = (await refresh(first.http, tokens["refresh_token"])).json()["refresh_token"]
    async with make_app(tmp_path, database_url, clock=clock, **LIMITS) as second:
        # Inside the window the sealed successor still opens with the same instance secret …
        replay = await refresh(second.http, tokens["refresh_token"])
        assert replay.json()["refresh_token"] == successor
        clock.advance(60)
        # … outside it, the rotated token is refused and the family revoked, as before the restart.
        assert (await refresh(second.http, tokens["refresh_token"])).status_code == 400
        assert (await refresh(second.http, successor)).status_code == 400
    async with make_app(tmp_path, database_url, clock=clock, **LIMITS) as third:
        assert (await refresh(third.http, successor)).status_code == 400
