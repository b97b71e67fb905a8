"""`ClientRegistry` and the client's not-before (compose/not_before.py, SEC-12): set in the write that
disables a client or rotates its secret, kept by everything else (enable, update, realm upsert)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.client_registry import ClientRegistry, ClientSpec
from ostiary.storage.memory.oauth_clients import MemoryClientStore

from ._support import HASHER, WEB_CB

T0 = 1_800_000_000.0
WEB = ClientSpec(
    client_id="web-app",
    redirect_uris=(WEB_CB,),
    grant_types=("authorization_code", "refresh_token"),
    scopes=("openid", "items:read"),
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def registry(clock: FrozenClock) -> ClientRegistry:
    registry = ClientRegistry(MemoryClientStore(), HASHER, clock)
    created, _ = await registry.create(WEB)
    assert created.tokens_not_before is None  # a new client has never revoked anything
    return registry


@pytest.mark.sec("SEC-12")
async def test_disable_sets_the_not_before_and_enable_update_and_upsert_keep_it(
    registry: ClientRegistry, clock: FrozenClock
) -> None:
    clock.advance(10.25)
    assert (await registry.disable("web-app")).tokens_not_before == T0 + 10.25
    clock.advance(5)
    assert (await registry.disable("web-app")).tokens_not_before == T0 + 10.25  # already disabled
    assert (await registry.enable("web-app")).tokens_not_before == T0 + 10.25
    updated, _ = await registry.update(replace(WEB, name="Renamed"))
    assert updated.tokens_not_before == T0 + 10.25
    # A realm upsert of the same client is "unchanged": the not-before is not part of the realm file.
    assert await registry.put(replace(WEB, name="Renamed")) == "unchanged"
    assert (await registry.get("web-app")).tokens_not_before == T0 + 10.25


@pytest.mark.sec("SEC-12")
async def test_a_realm_upsert_that_disables_the_client_sets_it(
    registry: ClientRegistry, clock: FrozenClock
) -> None:
    clock.advance(3)
    planned = await registry.plan_put(replace(WEB, disabled=True))
    assert planned.client.tokens_not_before == T0 + 3
    assert await registry.apply(planned) == "updated"
    assert (await registry.get("web-app")).tokens_not_before == T0 + 3
    clock.advance(3)
    assert (await registry.plan_put(replace(WEB, disabled=True))).outcome == "unchanged"


async def test_rotating_the_secret_sets_it(registry: ClientRegistry, clock: FrozenClock) -> None:
    clock.advance(42.5)
    rotated, _ = await registry.rotate_secret("web-app")
    assert rotated.tokens_not_before == T0 + 42.5
    assert (await registry.get("web-app")).tokens_not_before == T0 + 42.5
