"""HTTP: not-before revocation through the real app (compose/not_before.py) — SEC-04, SEC-12.

A password change ends the user's OAuth access tokens at introspection (their refresh families end
with it), and a disabled client's access tokens stay inactive after it is enabled again, while
tokens minted afterwards — even within the same second, which `iat` alone cannot tell — are active.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from endpoints_support import Registered, password_tokens, post_form, register_client

from helpers import OTHER_PASSWORD, PASSWORD, Harness, csrf, login, make_app
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.core.clock import FrozenClock
from ostiary.realm.importer import read_realm_file

SERVICE = Registered("demo-service", "KD6KLBJ2J2O3tNZu9-0e2Yc_I0VCYMUEDf_Dy-6965s")  # demo.yaml


async def is_active(h: Harness, caller: Registered, token: str) -> bool:
    answer = await post_form(h.http, "/introspect", caller, {"token": token})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if not body["active"]:
        assert body == {"active": False}
    return bool(body["active"])


@pytest.mark.sec("SEC-04")
@pytest.mark.sec("SEC-12")
async def test_a_password_change_ends_the_users_oauth_access_tokens(h: Harness, clock: FrozenClock) -> None:
    app = await register_client(h, "app")
    old = await password_tokens(h, app)
    bob = await password_tokens(h, app, username="bob")
    assert await is_active(h, app, old["access_token"])
    clock.advance(0.25)

    changed = await h.http.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=csrf(await login(h.http, "alice")),
    )
    assert changed.status_code == 200, changed.text
    clock.advance(0.25)  # still the same second as the old tokens: `iat` is equal
    form = {"grant_type": "password", "username": "alice", "password": OTHER_PASSWORD, "scope": "openid"}
    new = await post_form(h.http, "/token", app, form)
    assert new.status_code == 200, new.text

    assert not await is_active(h, app, old["access_token"])  # a JWT: only the not-before ends it
    assert not await is_active(h, app, old["refresh_token"])
    refreshed = await post_form(
        h.http, "/token", app, {"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}
    )
    assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant")
    assert await is_active(h, app, new.json()["access_token"])
    assert await is_active(h, app, bob["access_token"])  # another user's tokens are untouched
    userinfo = await h.http.get("/userinfo", headers={"Authorization": f"Bearer {old['access_token']}"})
    assert userinfo.status_code == 401


@pytest.fixture
async def demo(tmp_path: Path, database_url: str, clock: FrozenClock) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=clock) as harness:
        await realm_importer(harness.services).import_data(read_realm_file(DEMO_REALM))
        yield harness


async def admin(demo: Harness) -> httpx.AsyncClient:
    passwords = {u["username"]: u["password"] for u in demo_users()}
    client = demo.client()
    client.headers["X-CSRF-Token"] = await login(client, "alice", passwords["alice"])
    return client


async def service_token(demo: Harness) -> str:
    answer = await post_form(demo.http, "/token", SERVICE, {"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.mark.sec("SEC-12")
async def test_re_enabling_a_client_does_not_revive_its_earlier_tokens(
    demo: Harness, clock: FrozenClock
) -> None:
    alice = await admin(demo)
    old = await service_token(demo)
    assert await is_active(demo, SERVICE, old)
    clock.advance(0.3)
    assert (await alice.post("/admin/clients/demo-service/disable")).status_code == 200
    refused = await post_form(demo.http, "/token", SERVICE, {"grant_type": "client_credentials"})
    assert refused.status_code == 401
    assert (await alice.post("/admin/clients/demo-service/enable")).status_code == 200
    clock.advance(0.3)  # the same second as `old`
    new = await service_token(demo)

    assert not await is_active(demo, SERVICE, old)
    assert await is_active(demo, SERVICE, new)
    clock.advance(2)  # past the client cache's second: every worker agrees
    assert not await is_active(demo, SERVICE, old)
    assert await is_active(demo, SERVICE, new)
