"""RFC 6749 §6 + RFC 9700 §4.14.2: the refresh_token grant over the real rotation engine
(SEC-12, SEC-35, SEC-74)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ostiary.authn.audit import Auditor
from ostiary.core.clock import FrozenClock
from ostiary.core.secrets import InstanceSecret, random_token
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.token import TokenEndpoint, TokenResponse
from ostiary.oauth2.grants.refresh_token import RefreshTokenGrant
from ostiary.oauth2.minting import GrantContext, TokenSet
from ostiary.oauth2.requests import OAuthRequest
from ostiary.oauth2.scopes import USER_ONLY_SCOPES
from ostiary.storage.interfaces.audit import AuditEvent
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokenStore
from ostiary.tokens.refresh import RefreshConfig, RefreshTokens

from .._support import HASHER, WEB_SECRET, basic, form_request, native_client, web_client

FAMILY_SCOPE = "openid offline_access items:read items:write"
AUTH_TIME = 1_799_999_000.0


class ListAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    async def append(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def query(self, **_: Any) -> list[AuditEvent]:
        return list(self.events)


@dataclass
class PermissionUsers:
    """GrantUsers over a table of user → permissions; users absent from it are unknown/disabled."""

    permissions: dict[str, set[str]] = field(default_factory=dict)

    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        held = self.permissions.get(user_id)
        if held is None:
            return None
        return tuple(s for s in requested if s in USER_ONLY_SCOPES or s in held)


@dataclass
class RotatingMinter:
    """A TokenMinter double that hands back the rotated refresh token, as the contract says."""

    minted: list[GrantContext] = field(default_factory=list)
    hand_back_rotated: bool = True

    async def mint(self, ctx: GrantContext) -> TokenSet:
        await asyncio.sleep(0)
        self.minted.append(ctx)
        refresh = ctx.rotated_refresh_token if self.hand_back_rotated else random_token(32)
        return TokenSet(access_token=random_token(32), expires_in=600, scope=ctx.scope, refresh_token=refresh)


@pytest.fixture
def refresh_tokens(clock: FrozenClock) -> RefreshTokens:
    config = RefreshConfig(idle_seconds=3600, absolute_seconds=7200, retry_window=10, access_ttl=600)
    auditor = Auditor(ListAudit(), clock)
    return RefreshTokens(MemoryRefreshTokenStore(), InstanceSecret(b"k" * 32), clock, auditor, config)


@pytest.fixture
def users() -> PermissionUsers:
    return PermissionUsers({"u1": {"items:read", "items:write"}})


@pytest.fixture
def minter() -> RotatingMinter:
    return RotatingMinter()


@pytest.fixture
async def refresh_endpoint(
    clients: MemoryClientStore, refresh_tokens: RefreshTokens, minter: RotatingMinter, users: PermissionUsers
) -> TokenEndpoint:
    await clients.update(web_client(scopes=(*FAMILY_SCOPE.split(), "profile")))
    return TokenEndpoint(
        ClientAuthenticator(clients, HASHER), [RefreshTokenGrant(refresh_tokens, minter, users)]
    )


async def start(refresh_tokens: RefreshTokens, client_id: str = "web-app", scope: str = FAMILY_SCOPE) -> str:
    value, _ = await refresh_tokens.start("u1", client_id, "test", scope, AUTH_TIME, family_id="grant-1")
    return value


def refresh_request(token: str, scope: str | None = None, *, client_id: str = "web-app") -> OAuthRequest:
    params = {"grant_type": "refresh_token", "refresh_token": token}
    if scope is not None:
        params["scope"] = scope
    if client_id == "web-app":
        return form_request(params, headers={"Authorization": basic("web-app", WEB_SECRET)})
    return form_request({**params, "client_id": client_id})


async def refresh(endpoint: TokenEndpoint, token: str, scope: str | None = None, **kw: str) -> TokenResponse:
    return await endpoint.handle(refresh_request(token, scope, **kw))


@pytest.mark.rfc("RFC 6749 §6")
async def test_a_refresh_rotates_and_mints_for_the_family(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, minter: RotatingMinter
) -> None:
    old = await start(refresh_tokens)
    resp = await refresh(refresh_endpoint, old)
    assert resp.status == 200, resp.body
    assert resp.body["refresh_token"] != old and resp.body["scope"] == FAMILY_SCOPE
    assert resp.headers["Cache-Control"] == "no-store"
    (ctx,) = minter.minted
    assert (ctx.grant_type, ctx.grant_id, ctx.subject, ctx.user_id) == (
        "refresh_token",
        "grant-1",
        "u1",
        "u1",
    )
    assert ctx.auth_time == AUTH_TIME and ctx.refresh_token_allowed
    assert ctx.rotated_refresh_token == resp.body["refresh_token"]
    again = await refresh(refresh_endpoint, resp.body["refresh_token"])
    assert again.status == 200 and minter.minted[1].grant_id == "grant-1"


@pytest.mark.rfc("RFC 6749 §6")
async def test_a_scope_may_narrow_the_access_token_but_not_the_family(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens
) -> None:
    narrowed = await refresh(refresh_endpoint, await start(refresh_tokens), "items:read")
    assert narrowed.body["scope"] == "items:read"
    later = await refresh(refresh_endpoint, narrowed.body["refresh_token"])
    assert later.body["scope"] == FAMILY_SCOPE  # §6: the refresh token keeps its original scope


@pytest.mark.rfc("RFC 6749 §6")
async def test_a_scope_beyond_the_original_grant_is_invalid_scope(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, minter: RotatingMinter
) -> None:
    resp = await refresh(refresh_endpoint, await start(refresh_tokens), "items:read admin:all")
    assert (resp.status, resp.body["error"]) == (400, "invalid_scope")
    assert minter.minted == []


async def test_a_malformed_scope_is_refused_without_rotating_the_token(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clock: FrozenClock
) -> None:
    token = await start(refresh_tokens)
    assert (await refresh(refresh_endpoint, token, 'a"b')).body["error"] == "invalid_scope"
    clock.advance(60)  # past the retry window: a rotated token would now be treated as stolen
    assert (await refresh(refresh_endpoint, token)).status == 200


async def test_a_missing_refresh_token_is_invalid_request(refresh_endpoint: TokenEndpoint) -> None:
    resp = await refresh_endpoint.handle(
        form_request({"grant_type": "refresh_token"}, headers={"Authorization": basic("web-app", WEB_SECRET)})
    )
    assert resp.body["error"] == "invalid_request"


@pytest.mark.parametrize("token", ["never-issued", "ort_" + "x" * 43, "ort_" + "y" * 200])
async def test_unknown_tokens_are_invalid_grant(refresh_endpoint: TokenEndpoint, token: str) -> None:
    resp = await refresh(refresh_endpoint, token)
    assert (resp.status, resp.body["error"]) == (400, "invalid_grant")


@pytest.mark.sec("SEC-35")
@pytest.mark.rfc("RFC 9700 §4.14.2")
async def test_replaying_a_rotated_token_revokes_the_family(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clock: FrozenClock, minter: RotatingMinter
) -> None:
    rt1 = await start(refresh_tokens)
    rt2 = (await refresh(refresh_endpoint, rt1)).body["refresh_token"]
    clock.advance(11)  # outside the 10 s retry window
    assert (await refresh(refresh_endpoint, rt1)).body["error"] == "invalid_grant"
    assert (await refresh(refresh_endpoint, rt2)).body["error"] == "invalid_grant"
    assert await refresh_tokens.families("u1") == []
    assert len(minter.minted) == 1


@pytest.mark.sec("SEC-35")
@pytest.mark.rfc("RFC 6749 §10.4")
async def test_another_clients_refresh_token_is_invalid_grant(
    refresh_endpoint: TokenEndpoint,
    refresh_tokens: RefreshTokens,
    clients: MemoryClientStore,
    minter: RotatingMinter,
) -> None:
    await clients.update(replace(native_client(), grant_types=("authorization_code", "refresh_token")))
    token = await start(refresh_tokens, client_id="web-app")
    resp = await refresh(refresh_endpoint, token, client_id="cli")
    assert (resp.status, resp.body["error"]) == (400, "invalid_grant") and minter.minted == []
    assert (await refresh(refresh_endpoint, token)).status == 200  # still its owner's, unrotated


@pytest.mark.sec("SEC-35")
@pytest.mark.sec("SEC-11")
async def test_a_token_past_the_family_lifetime_is_invalid_grant(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clock: FrozenClock
) -> None:
    token = await start(refresh_tokens)
    for _ in range(2):  # used within the 1 h idle limit, until the 2 h absolute lifetime ends
        clock.advance(2400)
        resp = await refresh(refresh_endpoint, token)
        assert resp.status == 200
        token = resp.body["refresh_token"]
    clock.advance(2400)
    assert (await refresh(refresh_endpoint, token)).body["error"] == "invalid_grant"


async def test_public_clients_refresh_by_client_id(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clients: MemoryClientStore
) -> None:
    await clients.update(
        replace(
            native_client(),
            grant_types=("authorization_code", "refresh_token"),
            scopes=("openid", "items:read"),
        )
    )
    token = await start(refresh_tokens, client_id="cli", scope="openid items:read")
    resp = await refresh(refresh_endpoint, token, client_id="cli")
    assert resp.status == 200 and resp.body["refresh_token"] != token


@pytest.mark.sec("SEC-12")
async def test_a_disabled_user_gets_nothing_and_loses_the_family(
    refresh_endpoint: TokenEndpoint,
    refresh_tokens: RefreshTokens,
    users: PermissionUsers,
    minter: RotatingMinter,
) -> None:
    token = await start(refresh_tokens)
    del users.permissions["u1"]
    resp = await refresh(refresh_endpoint, token)
    assert resp.body["error"] == "invalid_grant" and minter.minted == []
    assert await refresh_tokens.families("u1") == []


@pytest.mark.sec("SEC-12")
async def test_scopes_whose_permission_was_lost_are_dropped(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, users: PermissionUsers
) -> None:
    users.permissions["u1"] = {"items:read"}
    resp = await refresh(refresh_endpoint, await start(refresh_tokens))
    assert resp.body["scope"] == "openid offline_access items:read"


async def test_losing_every_scope_ends_the_family(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, users: PermissionUsers
) -> None:
    token = await start(refresh_tokens, scope="items:write")
    users.permissions["u1"] = set()
    assert (await refresh(refresh_endpoint, token)).body["error"] == "invalid_grant"
    assert await refresh_tokens.families("u1") == []


async def test_a_narrowing_to_only_lost_scopes_is_invalid_scope_and_keeps_the_family(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, users: PermissionUsers
) -> None:
    token = await start(refresh_tokens)
    users.permissions["u1"] = set()
    assert (await refresh(refresh_endpoint, token, "items:write")).body["error"] == "invalid_scope"
    assert len(await refresh_tokens.families("u1")) == 1
    retry = await refresh(refresh_endpoint, token)  # inside the retry window: same successor
    assert retry.status == 200 and retry.body["scope"] == "openid offline_access"


async def test_scopes_removed_from_the_client_are_dropped(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clients: MemoryClientStore
) -> None:
    token = await start(refresh_tokens)
    await clients.update(web_client(scopes=("openid", "offline_access", "items:read")))
    assert (await refresh(refresh_endpoint, token)).body["scope"] == "openid offline_access items:read"


async def test_a_minter_that_ignores_the_rotated_token_fails_closed(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, minter: RotatingMinter
) -> None:
    minter.hand_back_rotated = False
    resp = await refresh(refresh_endpoint, await start(refresh_tokens))
    assert (resp.status, resp.body["error"]) == (500, "server_error") and "refresh_token" not in resp.body


@pytest.mark.sec("SEC-74")
@pytest.mark.rfc("RFC 9700 §4.14.2")
async def test_twenty_concurrent_refreshes_yield_one_successor(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clock: FrozenClock
) -> None:
    token = await start(refresh_tokens)
    results = await asyncio.gather(*(refresh(refresh_endpoint, token) for _ in range(20)))
    successes = {r.body["refresh_token"] for r in results if r.status == 200}
    assert len(successes) == 1  # every winner of the retry window holds the same successor
    assert {r.body["error"] for r in results if r.status != 200} <= {"invalid_grant"}
    (families,) = [await refresh_tokens.families("u1")]
    assert [f.id for f in families] == ["grant-1"]  # never two independent live families
    clock.advance(11)
    (successor,) = successes
    assert (await refresh(refresh_endpoint, successor)).status == 200
