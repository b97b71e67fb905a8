"""RFC 6749 §6: what a refresh request may cost its token. A refused scope spends nothing, and the
successor lives for the client's idle lifetime (SEC-11, SEC-34, SEC-35)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.storage.interfaces.oauth_clients import ClientLifetimes
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.tokens.refresh import RefreshTokens

from .test_refresh_token import (
    FAMILY_SCOPE,
    RotatingMinter,
    minter,
    refresh,
    refresh_endpoint,
    refresh_tokens,
    start,
    users,
)

__all__ = ["minter", "refresh_endpoint", "refresh_tokens", "users"]  # fixtures shared with that module


@pytest.mark.sec("SEC-34")
@pytest.mark.sec("SEC-35")
@pytest.mark.rfc("RFC 6749 §6")
async def test_a_scope_beyond_the_grant_is_refused_before_the_token_is_spent(
    refresh_endpoint: TokenEndpoint,
    refresh_tokens: RefreshTokens,
    minter: RotatingMinter,
    clock: FrozenClock,
) -> None:
    token = await start(refresh_tokens)
    resp = await refresh(refresh_endpoint, token, "items:read admin:all")
    assert (resp.status, resp.body["error"]) == (400, "invalid_scope")
    # Well past the retry window: had the token been rotated, this use would now look like theft
    # and revoke the family.
    clock.advance(60)
    again = await refresh(refresh_endpoint, token)
    assert again.status == 200, again.body
    assert again.body["scope"] == FAMILY_SCOPE
    assert len(minter.minted) == 1
    assert len(await refresh_tokens.families("u1")) == 1


@pytest.mark.sec("SEC-35")
async def test_a_wide_scope_on_a_rotated_token_is_still_refused_inside_the_window(
    refresh_endpoint: TokenEndpoint, refresh_tokens: RefreshTokens, clock: FrozenClock
) -> None:
    """The retry of a rotated token is judged after `redeem`: a wider scope gets nothing either."""
    token = await start(refresh_tokens)
    first = await refresh(refresh_endpoint, token)
    clock.advance(1)
    assert (await refresh(refresh_endpoint, token, "admin:all")).body["error"] == "invalid_scope"
    retry = await refresh(refresh_endpoint, token)
    assert retry.body["refresh_token"] == first.body["refresh_token"]


@pytest.mark.sec("SEC-11")
async def test_the_successor_lives_for_the_clients_idle_lifetime(
    refresh_endpoint: TokenEndpoint,
    refresh_tokens: RefreshTokens,
    clients: MemoryClientStore,
    clock: FrozenClock,
) -> None:
    client = await clients.get("web-app")
    assert client is not None
    await clients.update(replace(client, lifetimes=ClientLifetimes(refresh_token_idle=600)))
    token = (await refresh(refresh_endpoint, await start(refresh_tokens))).body["refresh_token"]
    clock.advance(599)
    token = (await refresh(refresh_endpoint, token)).body["refresh_token"]  # used in time: slides on
    clock.advance(601)  # the server's idle lifetime (1 h) has not passed; the client's has
    assert (await refresh(refresh_endpoint, token)).body["error"] == "invalid_grant"
