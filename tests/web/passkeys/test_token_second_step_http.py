"""HTTP: a passkey as the second step of `/auth/token` (docs/mfa.md, docs/passkeys.md): options asked
with `purpose: "token"`, the assertion sent back as `passkey`; each challenge finishes only the login
it was made for (SEC-49, SEC-51)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from passkey_http_support import device, passkey_app, register

from authn.passkeys.soft_authenticator import SoftAuthenticator
from helpers import PASSWORD, Harness, login


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with passkey_app(tmp_path, database_url) as harness:
        yield harness


async def token_step(client: httpx.AsyncClient) -> dict[str, Any]:
    started = await client.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    assert body["mfa_required"] is True and "webauthn" in body["methods"]
    return body


async def signed(client: httpx.AsyncClient, phone: SoftAuthenticator, mfa_token: str, purpose: str) -> Any:
    options = await client.post(
        "/auth/login/mfa/passkey/options", json={"mfa_token": mfa_token, "purpose": purpose}
    )
    assert options.status_code == 200, options.text
    return phone.get(options.json()["publicKey"])


@pytest.mark.sec("SEC-49")
@pytest.mark.sec("SEC-51")
async def test_a_passkey_finishes_the_token_login(h: Harness) -> None:
    phone = device()
    browser = h.client()
    assert (await register(browser, await login(browser, "alice"), phone)).status_code == 201

    cli = h.client()
    started = await token_step(cli)
    credential = await signed(cli, phone, started["mfa_token"], "token")
    done = await cli.post("/auth/token", json={"mfa_token": started["mfa_token"], "passkey": credential})
    assert done.status_code == 200, done.text
    assert done.json()["access_token"] and done.json()["refresh_token"]
    assert done.headers["cache-control"] == "no-store"
    again = await cli.post("/auth/token", json={"mfa_token": started["mfa_token"], "passkey": credential})
    assert again.status_code == 401  # the challenge and the WebAuthn challenge are spent


@pytest.mark.sec("SEC-49")
async def test_each_challenge_finishes_only_its_own_kind_of_login(h: Harness) -> None:
    phone = device()
    browser = h.client()
    assert (await register(browser, await login(browser, "alice"), phone)).status_code == 201
    cli = h.client()
    token_login = (await token_step(cli))["mfa_token"]
    wrong_kind = await cli.post(
        "/auth/login/mfa/passkey/options", json={"mfa_token": token_login, "purpose": "session"}
    )
    assert wrong_kind.status_code == 401 and wrong_kind.json()["error"] == "mfa_challenge_invalid"
    bad = await cli.post(
        "/auth/login/mfa/passkey/options", json={"mfa_token": token_login, "purpose": "admin"}
    )
    assert bad.status_code == 400

    # A browser login's challenge, signed for the browser step, does not buy tokens.
    web = h.client()
    first = await web.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    session_login = first.json()["mfa_token"]
    credential = await signed(web, phone, session_login, "session")
    refused = await web.post("/auth/token", json={"mfa_token": session_login, "passkey": credential})
    assert refused.status_code == 401 and refused.json()["error"] == "mfa_challenge_invalid"
    not_an_object = await cli.post("/auth/token", json={"mfa_token": token_login, "passkey": "x"})
    assert not_an_object.status_code == 400
