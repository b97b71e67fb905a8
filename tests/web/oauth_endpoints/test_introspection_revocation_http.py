"""HTTP: POST /introspect (RFC 7662) and POST /revoke (RFC 7009) — SEC-33, SEC-36, SEC-40, SEC-69."""

from __future__ import annotations

import httpx
import pytest
from endpoints_support import Registered, password_tokens, post_form, register_client

from helpers import ISSUER, Harness
from ostiary.core.clock import FrozenClock

INACTIVE = {"active": False}


async def introspect(h: Harness, caller: Registered | None, token: str, **extra: str) -> httpx.Response:
    return await post_form(h.http, "/introspect", caller, {"token": token, **extra})


async def revoke(h: Harness, caller: Registered | None, token: str, **extra: str) -> httpx.Response:
    return await post_form(h.http, "/revoke", caller, {"token": token, **extra})


async def is_active(h: Harness, caller: Registered, token: str) -> bool:
    answer = await introspect(h, caller, token)
    assert answer.status_code == 200, answer.text
    active = answer.json()["active"]
    assert isinstance(active, bool)
    return active


async def refresh(h: Harness, client: Registered, refresh_token: str) -> httpx.Response:
    return await post_form(
        h.http, "/token", client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


@pytest.mark.sec("SEC-36")
@pytest.mark.sec("SEC-40")
async def test_introspection_of_active_and_inactive_tokens(h: Harness, clock: FrozenClock) -> None:
    app = await register_client(h, "app")
    api = await register_client(h, "api", grant_types=("client_credentials",), scopes=("introspection",))
    other = await register_client(h, "other")
    tokens = await password_tokens(h, app, scope="openid profile offline_access docs:read")
    alice = await h.services.users.find_by_login("alice")
    assert alice is not None

    answer = await introspect(h, app, tokens["access_token"])
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    view = answer.json()
    assert view["active"] is True
    assert view["client_id"] == "app" and view["sub"] == alice.id and view["username"] == "alice"
    assert view["scope"] == "openid profile offline_access docs:read"
    assert view["token_type"] == "Bearer" and view["iss"] == ISSUER
    assert view["exp"] > view["iat"]

    # A resource server registered for introspection sees other clients' access tokens ...
    assert (await introspect(h, api, tokens["access_token"])).json()["client_id"] == "app"
    # ... but never their refresh tokens; the owner does.
    assert (await introspect(h, api, tokens["refresh_token"])).json() == INACTIVE
    owner_view = (await introspect(h, app, tokens["refresh_token"])).json()
    assert owner_view["active"] is True and owner_view["token_type"] == "refresh_token"
    # Any other client learns nothing.
    assert (await introspect(h, other, tokens["access_token"])).json() == INACTIVE

    for garbage in ["nonsense", "oat_" + "A" * 43, "ort_" + "B" * 43, "a.b.c", tokens["id_token"]]:
        answer = await introspect(h, app, garbage)
        assert answer.status_code == 200 and answer.json() == INACTIVE, garbage
        assert answer.headers["cache-control"] == "no-store"
    clock.advance(601)  # past the access token's ten minutes
    expired = await introspect(h, app, tokens["access_token"], token_type_hint="access_token")
    assert expired.json() == INACTIVE


@pytest.mark.sec("SEC-33")
@pytest.mark.sec("SEC-36")
@pytest.mark.sec("SEC-69")
async def test_introspection_requires_an_authenticated_client(h: Harness) -> None:
    app = await register_client(h, "app")
    spa = await register_client(h, "spa", public=True)
    token = (await password_tokens(h, app))["access_token"]

    anonymous = await introspect(h, None, token)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    assert anonymous.headers["cache-control"] == "no-store"
    wrong = await post_form(h.http, "/introspect", None, {"token": token}, auth=("app", "wrong-secret"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Basic")
    public = await introspect(h, spa, token)  # a public client cannot authenticate
    assert public.status_code == 401 and public.json()["error"] == "invalid_client"
    assert "active" not in public.json()

    as_json = await h.http.post("/introspect", json={"token": token}, auth=app.auth()["auth"])
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    twice = await h.http.post(
        "/introspect",
        content=f"token={token}&token=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=app.auth()["auth"],
    )
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    in_query = await h.http.post(f"/introspect?token={token}", data={"token": token}, auth=app.auth()["auth"])
    assert in_query.status_code == 400
    assert (await h.http.get("/introspect")).status_code == 405


@pytest.mark.sec("SEC-36")
async def test_revoking_a_refresh_token_ends_the_grant(h: Harness) -> None:
    app = await register_client(h, "app")
    tokens = await password_tokens(h, app)
    answer = await revoke(h, app, tokens["refresh_token"], token_type_hint="refresh_token")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert not await is_active(h, app, tokens["refresh_token"])
    assert not await is_active(h, app, tokens["access_token"])  # the grant's access tokens too
    refused = await refresh(h, app, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert (await revoke(h, app, tokens["refresh_token"])).status_code == 200  # idempotent


@pytest.mark.sec("SEC-36")
async def test_revoking_a_jwt_access_token_ends_its_grant(h: Harness) -> None:
    app = await register_client(h, "app")
    tokens = await password_tokens(h, app)
    assert await is_active(h, app, tokens["access_token"])
    assert (await revoke(h, app, tokens["access_token"])).status_code == 200
    assert not await is_active(h, app, tokens["access_token"])
    assert not await is_active(h, app, tokens["refresh_token"])
    userinfo = await h.http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401


@pytest.mark.sec("SEC-36")
async def test_revoking_an_opaque_access_token_ends_that_token_only(h: Harness) -> None:
    app = await register_client(h, "app", access_token_format="opaque")
    tokens = await password_tokens(h, app)
    assert tokens["access_token"].startswith("oat_")
    assert await is_active(h, app, tokens["access_token"])
    assert (await revoke(h, app, tokens["access_token"], token_type_hint="refresh_token")).status_code == 200
    assert not await is_active(h, app, tokens["access_token"])
    assert await is_active(h, app, tokens["refresh_token"])
    assert (await refresh(h, app, tokens["refresh_token"])).status_code == 200


@pytest.mark.sec("SEC-36")
async def test_revocation_by_another_client_or_of_unknown_tokens_changes_nothing(h: Harness) -> None:
    app = await register_client(h, "app")
    thief = await register_client(h, "thief")
    spa = await register_client(h, "spa", public=True)
    tokens = await password_tokens(h, app)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        answer = await revoke(h, thief, token)
        assert answer.status_code == 200 and answer.json() == {}
        answer = await revoke(h, spa, token)  # a public client identifies itself by client_id
        assert answer.status_code == 200
    assert await is_active(h, app, tokens["refresh_token"])
    assert await is_active(h, app, tokens["access_token"])
    assert (await revoke(h, app, "ort_" + "C" * 43)).status_code == 200
    assert (await revoke(h, app, "garbage")).status_code == 200

    unauthenticated = await revoke(h, None, tokens["refresh_token"])
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    missing = await post_form(h.http, "/revoke", app, {})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert await is_active(h, app, tokens["refresh_token"])
