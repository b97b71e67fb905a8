"""Builders of the passkey HTTP tests: a harness whose issuer is a host name (browsers refuse an IP as
the WebAuthn rp_id), the software authenticator of tests/authn/passkeys, and the ceremonies as a
browser would run them against the JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from authn.passkeys.soft_authenticator import SoftAuthenticator
from helpers import Harness, add_user, csrf, make_app
from ostiary.core.clock import FrozenClock

ISSUER = "http://localhost:8000"


@asynccontextmanager
async def passkey_app(tmp_path: Path, database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    settings: dict[str, Any] = {"issuer": ISSUER, "login_notices_enabled": False, **overrides}
    async with make_app(tmp_path, database_url, clock=FrozenClock(), **settings) as harness:
        await add_user(harness.services, "alice")
        await add_user(harness.services, "bob")
        yield harness


def device(**kwargs: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ISSUER, rp_id="localhost", **kwargs)


async def register(
    client: httpx.AsyncClient, token: str, phone: SoftAuthenticator, *, name: str | None = None, **bend: Any
) -> httpx.Response:
    """Options, then the authenticator's answer, then the registration; returns the last response."""
    options = await client.post("/auth/passkeys/register/options", json={}, headers=csrf(token))
    assert options.status_code == 200, options.text
    made = phone.create(options.json()["publicKey"], **bend)
    return await client.post(
        "/auth/passkeys/register", json={"credential": made, "name": name}, headers=csrf(token)
    )


async def passwordless(client: httpx.AsyncClient, phone: SoftAuthenticator, **bend: Any) -> httpx.Response:
    options = await client.post("/auth/passkey/login/options", json={})
    assert options.status_code == 200, options.text
    signed = phone.get(options.json()["publicKey"], **bend)
    return await client.post(
        "/auth/passkey/login/verify", json={"credential": signed, "next": "/account/passkeys"}
    )


async def second_step(
    client: httpx.AsyncClient, mfa_token: str, phone: SoftAuthenticator, **bend: Any
) -> httpx.Response:
    options = await client.post("/auth/login/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert options.status_code == 200, options.text
    signed = phone.get(options.json()["publicKey"], **bend)
    return await client.post("/auth/login/mfa/passkey", json={"mfa_token": mfa_token, "credential": signed})
