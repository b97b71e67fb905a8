"""HTTP, on the app as compose wires it: refresh-token reuse ends the family's access tokens
(SEC-35, SEC-29), a refused scope spends no refresh token (SEC-34), and a disabled client's tokens
stop working, for good (SEC-12)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from endpoints_support import Registered, password_tokens, post_form, register_client

from helpers import Harness, add_user, make_app
from ostiary.compose.clients import build_client_registry
from ostiary.core.clock import FrozenClock

INACTIVE = {"active": False}


async def introspect(h: Harness, caller: Registered, token: str) -> dict[str, object]:
    answer = await post_form(h.http, "/introspect", caller, {"token": token})
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def refresh(h: Harness, client: Registered, token: str, **extra: str) -> httpx.Response:
    return await post_form(
        h.http, "/token", client, {"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


@pytest.mark.sec("SEC-35")
@pytest.mark.sec("SEC-29")
@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
async def test_refresh_token_reuse_makes_the_familys_access_tokens_inactive(
    h: Harness, clock: FrozenClock, fmt: str
) -> None:
    app = await register_client(h, "app", access_token_format=fmt)
    first = await password_tokens(h, app)
    rotated = await refresh(h, app, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert (await introspect(h, app, first["access_token"]))["active"] is True
    clock.advance(11)  # outside the retry window
    reused = await refresh(h, app, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert await introspect(h, app, token) == INACTIVE
    userinfo = await h.http.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert userinfo.status_code == 401


@pytest.mark.sec("SEC-34")
async def test_a_refused_scope_leaves_the_refresh_token_usable(h: Harness, clock: FrozenClock) -> None:
    app = await register_client(h, "app")
    tokens = await password_tokens(h, app)
    wider = await refresh(h, app, tokens["refresh_token"], scope="openid profile docs:read")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    clock.advance(60)
    again = await refresh(h, app, tokens["refresh_token"])
    assert again.status_code == 200, again.text


@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("fmt", ["jwt", "opaque"])
async def test_a_disabled_client_loses_its_tokens_for_good(h: Harness, fmt: str) -> None:
    app = await register_client(h, "app", access_token_format=fmt)
    service = await register_client(
        h, "svc", access_token_format=fmt, grant_types=("client_credentials",), scopes=("docs:read",)
    )
    resource = await register_client(h, "api", grant_types=("client_credentials",), scopes=("introspection",))
    other = await register_client(h, "other", access_token_format=fmt)
    tokens = await password_tokens(h, app)
    service_token = await post_form(h.http, "/token", service, {"grant_type": "client_credentials"})
    assert service_token.status_code == 200, service_token.text
    others = await password_tokens(h, other)

    registry = build_client_registry(h.services)  # what the admin API, the CLI and realm import use
    await registry.disable("app")
    await registry.disable("svc")
    for token in (tokens["access_token"], service_token.json()["access_token"]):
        assert await introspect(h, resource, token) == INACTIVE
    assert (await refresh(h, app, tokens["refresh_token"])).status_code == 401  # invalid_client
    assert (await introspect(h, resource, others["access_token"]))["active"] is True

    await registry.enable("app")
    refused = await refresh(h, app, tokens["refresh_token"])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    if fmt == "opaque":  # revoked at the disable; a JWT cannot be, and lives out its minutes
        assert await introspect(h, resource, tokens["access_token"]) == INACTIVE
    assert (await refresh(h, other, others["refresh_token"])).status_code == 200


@pytest.mark.sec("SEC-12")
async def test_a_disabled_client_loses_its_opaque_tokens_on_redis(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    async with make_app(tmp_path, database_url, redis_url=redis_url) as h:
        await add_user(h.services, "alice", roles=["viewer"])
        app = await register_client(h, "app", access_token_format="opaque")
        resource = await register_client(
            h, "api", grant_types=("client_credentials",), scopes=("introspection",)
        )
        tokens = await password_tokens(h, app)
        registry = build_client_registry(h.services)
        await registry.disable("app")
        await registry.enable("app")
        assert await introspect(h, resource, tokens["access_token"]) == INACTIVE
        assert (await refresh(h, app, tokens["refresh_token"])).json()["error"] == "invalid_grant"
