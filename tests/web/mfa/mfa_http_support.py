"""Builders of the MFA HTTP tests: a harness on a frozen clock, TOTP turned on through the API, and the
codes an authenticator app would show at the harness's time."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from helpers import PASSWORD, Harness, csrf, login
from ostiary.authn.totp import PERIOD, code_at, step_at
from ostiary.core.clock import FrozenClock


@dataclass
class Enrolled:
    seed: bytes
    recovery_codes: list[str]


def seed_of(secret: str) -> bytes:
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def clock_of(h: Harness) -> FrozenClock:
    clock = h.services.clock
    assert isinstance(clock, FrozenClock)
    return clock


def code_now(h: Harness, seed: bytes, offset_steps: int = 0) -> str:
    return code_at(seed, step_at(h.services.clock.now()) + offset_steps)


def wrong_code(h: Harness, seed: bytes) -> str:
    taken = {code_now(h, seed, d) for d in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(10)) if c not in taken)


async def enable_totp(h: Harness, username: str) -> Enrolled:
    """Log in with the password on a fresh client, turn TOTP on, and move past the used time step."""
    client = h.client()
    token = await login(client, username)
    start = await client.post("/auth/mfa/totp", headers=csrf(token))
    assert start.status_code == 200, start.text
    seed = seed_of(start.json()["secret"])
    confirm = await client.post(
        "/auth/mfa/totp/confirm", json={"code": code_now(h, seed)}, headers=csrf(token)
    )
    assert confirm.status_code == 200, confirm.text
    clock_of(h).advance(PERIOD)
    return Enrolled(seed, confirm.json()["recovery_codes"])


async def password_step(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, **extra: Any
) -> str:
    """The first step of an MFA login over JSON; returns the challenge token."""
    response = await client.post("/auth/login", json={"username": username, "password": password, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True, body
    token = body["mfa_token"]
    assert isinstance(token, str)
    return token


async def second_step(client: httpx.AsyncClient, mfa_token: str, **factor: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"mfa_token": mfa_token, **factor})
