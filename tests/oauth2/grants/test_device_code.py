"""RFC 8628 §3.4–3.5: polling the token endpoint with a device code (SEC-12, SEC-32, SEC-37)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.device import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceVerification,
)
from ostiary.oauth2.endpoints.token import TokenEndpoint, TokenResponse
from ostiary.oauth2.grants.device_code import DeviceCodeGrant
from ostiary.oauth2.scopes import USER_ONLY_SCOPES
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.memory.oauth_device import MemoryDeviceCodeStore

from .._support import HASHER, MemoryTokenService, form_request, native_client

CLI_SCOPES = ("openid", "offline_access", "items:read", "items:write")


@dataclass
class PermissionUsers:
    """GrantUsers over a table of user → permissions; users absent from it are unknown/disabled."""

    permissions: dict[str, set[str]] = field(default_factory=dict)

    async def grantable_scopes(self, user_id: str, requested: tuple[str, ...]) -> tuple[str, ...] | None:
        held = self.permissions.get(user_id)
        if held is None:
            return None
        return tuple(s for s in requested if s in USER_ONLY_SCOPES or s in held)


class YieldingDeviceStore(MemoryDeviceCodeStore):
    """Suspends before each poll and consume, as a networked store would, so that concurrent
    redemptions all see the approved record before any of them takes it."""

    consume_calls = 0

    async def poll(
        self, device_code_digest: str, *, now: float
    ) -> tuple[DeviceAuthorization, float | None] | None:
        await asyncio.sleep(0)
        return await super().poll(device_code_digest, now=now)

    async def consume(self, device_code_digest: str) -> DeviceAuthorization | None:
        self.consume_calls += 1
        await asyncio.sleep(0)
        return await super().consume(device_code_digest)


@dataclass
class Flow:
    """The device flow's three parties over one store: device authorization, the user's page, /token."""

    authorize: DeviceAuthorizationEndpoint
    verify: DeviceVerification
    token: TokenEndpoint
    store: MemoryDeviceCodeStore

    async def start(
        self, client_id: str = "cli", scope: str = "openid items:read items:write"
    ) -> tuple[str, str]:
        resp = await self.authorize.handle(form_request({"client_id": client_id, "scope": scope}))
        assert resp.status == 200, resp.body
        return resp.body["device_code"], resp.body["user_code"]

    async def poll(self, device_code: str, client_id: str = "cli") -> TokenResponse:
        params = {"grant_type": DEVICE_CODE_GRANT_TYPE, "device_code": device_code, "client_id": client_id}
        return await self.token.handle(form_request(params))


@pytest.fixture
async def device_clients(clients: MemoryClientStore) -> MemoryClientStore:
    grants = (DEVICE_CODE_GRANT_TYPE, "refresh_token")
    await clients.update(replace(native_client(), grant_types=grants, scopes=CLI_SCOPES))
    await clients.add(replace(native_client(), client_id="tv", grant_types=grants, scopes=CLI_SCOPES))
    return clients


@pytest.fixture
def users() -> PermissionUsers:
    return PermissionUsers({"u1": {"items:read"}})


def make_flow(
    clients: MemoryClientStore,
    store: MemoryDeviceCodeStore,
    tokens: MemoryTokenService,
    users: PermissionUsers,
    clock: FrozenClock,
) -> Flow:
    authenticator = ClientAuthenticator(clients, HASHER)
    return Flow(
        DeviceAuthorizationEndpoint(
            authenticator, store, clock, verification_uri="https://id.example.com/device"
        ),
        DeviceVerification(store, clock, users),
        TokenEndpoint(authenticator, [DeviceCodeGrant(store, tokens, users, clock)]),
        store,
    )


@pytest.fixture
def flow(
    device_clients: MemoryClientStore, tokens: MemoryTokenService, users: PermissionUsers, clock: FrozenClock
) -> Flow:
    return make_flow(device_clients, MemoryDeviceCodeStore(clock), tokens, users, clock)


def error(resp: TokenResponse) -> tuple[int, str]:
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, resp.body.get("error", "")


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §3.4")
async def test_an_approved_code_is_exchanged_once_for_the_approving_users_tokens(
    flow: Flow, tokens: MemoryTokenService, clock: FrozenClock
) -> None:
    device_code, user_code = await flow.start()
    record = await flow.verify.approve(user_code, "u1", clock.now() - 30, ("pwd",))
    resp = await flow.poll(device_code)
    assert resp.status == 200, resp.body
    assert resp.body["scope"] == "openid items:read" and "refresh_token" in resp.body
    (ctx,) = tokens.minted
    assert (ctx.grant_type, ctx.grant_id, ctx.subject, ctx.user_id) == (
        DEVICE_CODE_GRANT_TYPE,
        record.grant_id,
        "u1",
        "u1",
    )
    assert (ctx.auth_time, ctx.amr, ctx.client.client_id) == (clock.now() - 30, ("pwd",), "cli")
    clock.advance(10)
    assert error(await flow.poll(device_code)) == (400, "invalid_grant")  # §3.5: single redemption
    assert len(tokens.minted) == 1


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §3.5")
async def test_before_the_user_decides_the_answer_is_authorization_pending(
    flow: Flow, clock: FrozenClock
) -> None:
    device_code, _ = await flow.start()
    assert error(await flow.poll(device_code)) == (400, "authorization_pending")
    clock.advance(5)
    assert error(await flow.poll(device_code)) == (400, "authorization_pending")


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §3.5")
async def test_polling_faster_than_the_interval_is_slow_down(flow: Flow, clock: FrozenClock) -> None:
    device_code, _ = await flow.start()
    await flow.poll(device_code)
    clock.advance(4.9)
    assert error(await flow.poll(device_code)) == (400, "slow_down")
    clock.advance(3)  # 3 s after the last (too fast) poll: still too fast
    assert error(await flow.poll(device_code)) == (400, "slow_down")
    clock.advance(10)  # a client that added 5 s to its interval
    assert error(await flow.poll(device_code)) == (400, "authorization_pending")


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §3.5")
async def test_after_its_lifetime_the_code_is_expired_token(
    flow: Flow, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    clock.advance(600)
    assert error(await flow.poll(device_code)) == (400, "expired_token")
    assert tokens.minted == []


@pytest.mark.sec("SEC-37")
@pytest.mark.rfc("RFC 8628 §3.5")
async def test_a_denied_request_is_access_denied(
    flow: Flow, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    device_code, user_code = await flow.start()
    await flow.verify.deny(user_code, "u1", clock.now())
    assert error(await flow.poll(device_code)) == (400, "access_denied")
    clock.advance(1)  # a denial is final, however fast the device polls
    assert error(await flow.poll(device_code)) == (400, "access_denied")
    assert tokens.minted == []


@pytest.mark.sec("SEC-37")
async def test_a_device_code_of_another_client_is_invalid_grant(
    flow: Flow, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    device_code, user_code = await flow.start(client_id="cli")
    await flow.verify.approve(user_code, "u1", clock.now())
    assert error(await flow.poll(device_code, client_id="tv")) == (400, "invalid_grant")
    assert tokens.minted == []
    clock.advance(5)
    assert (await flow.poll(device_code)).status == 200  # still redeemable by its own client


@pytest.mark.parametrize("device_code", ["never-issued", "x" * 129])
async def test_unknown_device_codes_are_invalid_grant(flow: Flow, device_code: str) -> None:
    assert error(await flow.poll(device_code)) == (400, "invalid_grant")


async def test_a_missing_device_code_is_invalid_request(flow: Flow) -> None:
    resp = await flow.token.handle(form_request({"grant_type": DEVICE_CODE_GRANT_TYPE, "client_id": "cli"}))
    assert error(resp) == (400, "invalid_request")


@pytest.mark.sec("SEC-32")
async def test_a_client_not_registered_for_the_grant_is_unauthorized_client(
    flow: Flow, device_clients: MemoryClientStore, clock: FrozenClock
) -> None:
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    await device_clients.update(replace(native_client(), scopes=CLI_SCOPES))  # device grant withdrawn
    assert error(await flow.poll(device_code)) == (400, "unauthorized_client")


@pytest.mark.sec("SEC-12")
@pytest.mark.sec("SEC-37")
async def test_a_user_disabled_after_approving_gets_nothing(
    flow: Flow, users: PermissionUsers, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    del users.permissions["u1"]
    assert error(await flow.poll(device_code)) == (400, "invalid_grant")
    assert tokens.minted == []


@pytest.mark.sec("SEC-37")
async def test_a_permission_lost_after_approving_is_dropped(
    flow: Flow, users: PermissionUsers, clock: FrozenClock
) -> None:
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    users.permissions["u1"] = set()
    assert (await flow.poll(device_code)).body["scope"] == "openid"


async def test_without_the_refresh_grant_no_refresh_token_is_allowed(
    flow: Flow, device_clients: MemoryClientStore, clock: FrozenClock, tokens: MemoryTokenService
) -> None:
    await device_clients.update(
        replace(native_client(), grant_types=(DEVICE_CODE_GRANT_TYPE,), scopes=CLI_SCOPES)
    )
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    assert (await flow.poll(device_code)).status == 200
    assert not tokens.minted[0].refresh_token_allowed


@pytest.mark.sec("SEC-37")
@pytest.mark.parametrize("redemptions", [2, 20])
async def test_concurrent_redemptions_of_one_approved_code_yield_one_token_set(
    device_clients: MemoryClientStore,
    tokens: MemoryTokenService,
    users: PermissionUsers,
    clock: FrozenClock,
    redemptions: int,
) -> None:
    store = YieldingDeviceStore(clock)
    flow = make_flow(device_clients, store, tokens, users, clock)
    device_code, user_code = await flow.start()
    await flow.verify.approve(user_code, "u1", clock.now())
    results = await asyncio.gather(*(flow.poll(device_code) for _ in range(redemptions)))
    assert store.consume_calls == redemptions  # every request reached the atomic take
    assert [r.status for r in results].count(200) == 1
    assert {r.body["error"] for r in results if r.status != 200} == {"invalid_grant"}
    assert len(tokens.minted) == 1
