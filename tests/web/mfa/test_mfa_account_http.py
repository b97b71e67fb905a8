"""HTTP: a user's own TOTP and recovery codes — enroll, confirm, regenerate, disable — with CSRF and a
recent authentication (SEC-14, SEC-50), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mfa_http_support import clock_of, code_now, enable_totp, password_step, second_step, seed_of

from helpers import Harness, add_user, audit_rows, csrf, login, make_app
from ostiary.core.clock import FrozenClock


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=FrozenClock()) as harness:
        await add_user(harness.services, "alice")
        yield harness


async def mfa_session(h: Harness, seed: bytes) -> tuple[httpx.AsyncClient, str]:
    client = h.client()
    done = await second_step(client, await password_step(client, "alice"), code=code_now(h, seed))
    assert done.status_code == 200, done.text
    return client, done.json()["csrf_token"]


@pytest.mark.sec("SEC-50")
async def test_enrollment_shows_the_secret_once_and_activates_on_a_correct_code(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")
    other = h.client()
    await login(other, "alice")
    assert (await client.get("/auth/mfa")).json() == {
        "mfa_enabled": False,
        "totp": {"active": False, "pending": False},
        "recovery_codes_left": 0,
    }
    start = await client.post("/auth/mfa/totp", headers=csrf(token))
    assert start.status_code == 200
    assert start.headers["cache-control"] == "no-store"
    body = start.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg", "expires_at"}
    assert body["otpauth_uri"].startswith("otpauth://totp/") and body["qr_svg"].startswith("<svg")
    assert (await client.get("/auth/mfa")).json()["totp"] == {"active": False, "pending": True}
    seed = seed_of(body["secret"])
    wrong = await client.post("/auth/mfa/totp/confirm", json={"code": "12345"}, headers=csrf(token))
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_code")
    assert (await client.post("/auth/mfa/totp/confirm", json={}, headers=csrf(token))).status_code == 400
    confirm = await client.post(
        "/auth/mfa/totp/confirm", json={"code": code_now(h, seed)}, headers=csrf(token)
    )
    assert confirm.status_code == 200
    assert confirm.headers["cache-control"] == "no-store"
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    assert (await client.get("/auth/mfa")).json()["mfa_enabled"] is True
    # Other sessions logged in without the new factor end; this one stays.
    assert (await other.get("/auth/me")).status_code == 401
    assert (await client.get("/auth/me")).status_code == 200
    events = {r["event"] for r in await audit_rows(h.services)}
    assert {"mfa.totp_enroll_started", "mfa.totp_enroll_failed", "mfa.totp_enabled"} <= events
    for row in await audit_rows(h.services):
        assert body["secret"] not in repr(row) and codes[0] not in repr(row)


async def test_enrollment_needs_the_session_csrf_token(h: Harness) -> None:
    client = h.client()
    await login(client, "alice")
    refused = await client.post("/auth/mfa/totp")
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf_failed")
    assert (await h.client().post("/auth/mfa/totp")).status_code == 401


@pytest.mark.sec("SEC-14")
async def test_starting_enrollment_needs_a_recent_login(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")
    clock_of(h).advance(601)
    stale = await client.post("/auth/mfa/totp", headers=csrf(token))
    assert (stale.status_code, stale.json()["error"]) == (401, "reauth_required")
    token = await login(client, "alice")  # logging in again is the re-authentication
    assert (await client.post("/auth/mfa/totp", headers=csrf(token))).status_code == 200


@pytest.mark.sec("SEC-14")
async def test_disabling_needs_a_recent_login_that_used_the_second_factor(h: Harness) -> None:
    enrolled = await enable_totp(h, "alice")
    client, token = await mfa_session(h, enrolled.seed)
    clock_of(h).advance(601)
    stale = await client.post("/auth/mfa/totp/disable", headers=csrf(token))
    assert (stale.status_code, stale.json()["error"]) == (401, "reauth_required")
    client, token = await mfa_session(h, enrolled.seed)
    done = await client.post("/auth/mfa/totp/disable", headers=csrf(token))
    assert (done.status_code, done.json()) == (200, {"status": "disabled"})
    assert "mfa.totp_disabled" in {r["event"] for r in await audit_rows(h.services)}
    # The next login is one step again, and there is nothing left to disable.
    plain = h.client()
    token = await login(plain, "alice")
    again = await plain.post("/auth/mfa/totp/disable", headers=csrf(token))
    assert (again.status_code, again.json()["error"]) == (404, "not_found")


@pytest.mark.sec("SEC-14")
@pytest.mark.sec("SEC-50")
async def test_regenerating_recovery_codes_needs_reauth_and_ends_the_old_ones(h: Harness) -> None:
    enrolled = await enable_totp(h, "alice")
    client, token = await mfa_session(h, enrolled.seed)
    fresh = await client.post("/auth/mfa/recovery-codes", headers=csrf(token))
    assert fresh.status_code == 200
    assert fresh.headers["cache-control"] == "no-store"
    new_codes = fresh.json()["recovery_codes"]
    assert not set(new_codes) & set(enrolled.recovery_codes)
    old = await second_step(
        h.client(), await password_step(h.client(), "alice"), recovery_code=enrolled.recovery_codes[0]
    )
    assert (old.status_code, old.json()["error"]) == (401, "invalid_code")
    new = await second_step(h.client(), await password_step(h.client(), "alice"), recovery_code=new_codes[0])
    assert new.status_code == 200
    clock_of(h).advance(601)
    stale = await client.post("/auth/mfa/recovery-codes", headers=csrf(token))
    assert (stale.status_code, stale.json()["error"]) == (401, "reauth_required")


@pytest.mark.sec("SEC-14")
async def test_a_password_only_session_cannot_renew_or_remove_the_factor(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")  # before MFA: amr ["pwd"]
    start = await client.post("/auth/mfa/totp", headers=csrf(token))
    seed = seed_of(start.json()["secret"])
    confirm = await client.post(
        "/auth/mfa/totp/confirm", json={"code": code_now(h, seed)}, headers=csrf(token)
    )
    assert confirm.status_code == 200
    for path in ("/auth/mfa/recovery-codes", "/auth/mfa/totp/disable"):
        refused = await client.post(path, headers=csrf(token))
        assert (refused.status_code, refused.json()["error"]) == (401, "reauth_required"), path
    assert (await client.get("/auth/mfa")).json()["mfa_enabled"] is True
