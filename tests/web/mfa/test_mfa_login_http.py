"""HTTP: the two-step login at /auth/login, /auth/login/mfa and /auth/token, on SQLite and PostgreSQL
(SEC-47, SEC-48, SEC-49)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mfa_http_support import (
    Enrolled,
    clock_of,
    code_now,
    enable_totp,
    password_step,
    second_step,
    wrong_code,
)

from helpers import PASSWORD, Harness, add_user, audit_rows, cookie_value, make_app, set_cookies
from ostiary.authn.totp import PERIOD
from ostiary.core.clock import FrozenClock


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, clock=FrozenClock()) as harness:
        await add_user(harness.services, "alice", roles=["viewer"])
        await add_user(harness.services, "bob")
        yield harness


@pytest.fixture
async def alice(h: Harness) -> Enrolled:
    return await enable_totp(h, "alice")


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.mark.sec("SEC-49")
async def test_a_correct_password_gives_a_challenge_and_no_session(h: Harness, alice: Enrolled) -> None:
    client = h.client()
    response = await client.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"mfa_required", "mfa_token", "expires_in", "methods"}
    assert body["methods"] == ["totp", "recovery_code"]
    assert body["expires_in"] == 300
    assert response.headers["cache-control"] == "no-store"
    assert not [c for c in set_cookies(response) if h.session_cookie_name in c]
    assert cookie_value(client, h.session_cookie_name) is None
    assert (await client.get("/auth/me")).status_code == 401
    # A user without MFA still logs in in one step.
    assert (
        "csrf_token"
        in (await client.post("/auth/login", json={"username": "bob", "password": PASSWORD})).json()
    )


@pytest.mark.sec("SEC-49")
async def test_the_challenge_token_is_no_credential_anywhere(h: Harness, alice: Enrolled) -> None:
    token = await password_step(h.client(), "alice")
    for path in ("/auth/me", "/auth/mfa", "/auth/sessions", "/auth/token/families"):
        assert await h.status_with(token, path) == 401, path
        bearer = await h.client().get(path, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401, path
    home = await h.client(cookies={h.session_cookie_name: token}).get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/login")
    as_cookie = h.client(cookies={h.session_cookie_name: token})
    assert (
        await as_cookie.post("/auth/mfa/totp/disable", headers={"X-CSRF-Token": token})
    ).status_code == 401
    refresh = await h.client().post("/auth/token/refresh", json={"refresh_token": token})
    assert refresh.status_code in (400, 401)
    # A browser-login challenge does not finish a token login, nor the other way round.
    wrong_purpose = await h.client().post(
        "/auth/token", json={"mfa_token": token, "code": code_now(h, alice.seed)}
    )
    assert (wrong_purpose.status_code, wrong_purpose.json()["error"]) == (401, "mfa_challenge_invalid")
    token_challenge = (
        await h.client().post("/auth/token", json={"username": "alice", "password": PASSWORD})
    ).json()["mfa_token"]
    crossed = await second_step(h.client(), token_challenge, code=code_now(h, alice.seed))
    assert (crossed.status_code, crossed.json()["error"]) == (401, "mfa_challenge_invalid")
    # Both challenges are still usable where they belong.
    ok = await second_step(h.client(), token, code=code_now(h, alice.seed))
    assert ok.status_code == 200, ok.text


@pytest.mark.sec("SEC-49")
async def test_forged_step_parameters_cannot_skip_the_second_factor(h: Harness, alice: Enrolled) -> None:
    client = h.client()
    forged = {
        "stage": "done",
        "mfa": "ok",
        "mfa_verified": "true",
        "amr": "otp",
        "code": code_now(h, alice.seed),
    }
    spoof = {"X-Forwarded-For": "a", "X-Real-IP": "127.0.0.1"}
    response = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD, **forged}, headers=spoof
    )
    assert response.json()["mfa_required"] is True
    assert cookie_value(client, h.session_cookie_name) is None
    token = response.json()["mfa_token"]
    for body in ({"mfa_token": token}, {"mfa_token": token, "code": ""}, {"code": code_now(h, alice.seed)}):
        refused = await client.post("/auth/login/mfa", json=body)
        assert refused.status_code in (400, 401), body
        assert cookie_value(client, h.session_cookie_name) is None
    both = await second_step(
        client, token, code=code_now(h, alice.seed), recovery_code=alice.recovery_codes[0]
    )
    assert both.status_code == 400
    assert (
        await client.post("/auth/login/mfa", json={"mfa_token": "x" * 43, "code": "123456"})
    ).status_code == 401
    assert (await client.get("/auth/me")).status_code == 401
    # The untouched challenge still completes: the refusals above spent nothing that matters.
    assert (await second_step(client, token, code=code_now(h, alice.seed))).status_code == 200


@pytest.mark.sec("SEC-49")
async def test_totp_finishes_the_login_and_the_session_names_both_factors(
    h: Harness, alice: Enrolled
) -> None:
    client = h.client()
    token = await password_step(client, "alice")
    done = await second_step(client, token, code=code_now(h, alice.seed))
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["amr"] == ["pwd", "otp"]
    assert body["user"]["mfa_enabled"] is True
    assert body["csrf_token"]
    me = await client.get("/auth/me")
    assert (me.status_code, me.json()["amr"]) == (200, ["pwd", "otp"])
    clock_of(h).advance(PERIOD)
    again = await second_step(h.client(), token, code=code_now(h, alice.seed))
    assert (again.status_code, again.json()["error"]) == (401, "mfa_challenge_invalid")
    events = [(r["event"], r["details"].get("factor")) for r in await audit_rows(h.services)]
    assert ("login.mfa_required", None) in events
    assert ("login.success", "totp") in events


@pytest.mark.sec("SEC-50")
async def test_a_recovery_code_finishes_the_login_once(h: Harness, alice: Enrolled) -> None:
    client = h.client()
    code = alice.recovery_codes[4]
    done = await second_step(client, await password_step(client, "alice"), recovery_code=code.upper())
    assert done.status_code == 200, done.text
    assert done.json()["user"]["amr"] == ["pwd", "recovery"]
    reuse = await second_step(h.client(), await password_step(h.client(), "alice"), recovery_code=code)
    assert (reuse.status_code, reuse.json()["error"]) == (401, "invalid_code")
    status = await client.get("/auth/mfa")
    assert status.json()["recovery_codes_left"] == 9


@pytest.mark.sec("SEC-47")
async def test_a_code_works_once_even_across_logins_and_client_time_is_ignored(
    h: Harness, alice: Enrolled
) -> None:
    code = code_now(h, alice.seed)
    assert (
        await second_step(h.client(), await password_step(h.client(), "alice"), code=code)
    ).status_code == 200
    second = await second_step(h.client(), await password_step(h.client(), "alice"), code=code)
    assert (second.status_code, second.json()["error"]) == (401, "invalid_code")
    now = h.services.clock.now()
    for offset in (-3, 3):  # ±90 s; a client's idea of the time changes nothing
        stale = code_now(h, alice.seed, offset)
        token = await password_step(h.client(), "alice")
        response = await h.client().post(
            "/auth/login/mfa",
            json={
                "mfa_token": token,
                "code": stale,
                "time": str(now + offset * PERIOD),
                "timestamp": str(now),
            },
        )
        assert response.status_code == 401, offset


@pytest.mark.sec("SEC-47")
async def test_one_code_sent_five_times_at_once_logs_in_once(h: Harness, alice: Enrolled) -> None:
    clients = [h.client() for _ in range(5)]
    tokens = [await password_step(c, "alice") for c in clients]
    code = code_now(h, alice.seed)
    gate = asyncio.Barrier(5)

    async def submit(client: httpx.AsyncClient, token: str) -> int:
        await gate.wait()
        return (await second_step(client, token, code=code)).status_code

    statuses = await asyncio.gather(*(submit(c, t) for c, t in zip(clients, tokens, strict=True)))
    assert sorted(statuses) == [200, 401, 401, 401, 401]
    assert sum(cookie_value(c, h.session_cookie_name) is not None for c in clients) == 1


@pytest.mark.sec("SEC-50")
async def test_one_recovery_code_sent_five_times_at_once_logs_in_once(h: Harness, alice: Enrolled) -> None:
    clients = [h.client() for _ in range(5)]
    tokens = [await password_step(c, "alice") for c in clients]
    gate = asyncio.Barrier(5)

    async def submit(client: httpx.AsyncClient, token: str) -> int:
        await gate.wait()
        return (await second_step(client, token, recovery_code=alice.recovery_codes[0])).status_code

    statuses = await asyncio.gather(*(submit(c, t) for c, t in zip(clients, tokens, strict=True)))
    assert sorted(statuses) == [200, 401, 401, 401, 401]


@pytest.mark.sec("SEC-48")
async def test_wrong_codes_lock_the_factor_whatever_the_login_or_ip(h: Harness, alice: Enrolled) -> None:
    for attempt in range(5):
        client = h.client(client_ip=f"198.51.100.{attempt + 1}")  # a new IP and a new login each time
        response = await second_step(
            client, await password_step(client, "alice"), code=wrong_code(h, alice.seed)
        )
        assert (response.status_code, response.json()["error"]) == (401, "invalid_code")
    client = h.client(client_ip="203.0.113.9")
    token = await password_step(client, "alice")  # the password still works: its counter is separate
    locked = await second_step(client, token, code=code_now(h, alice.seed))
    assert (locked.status_code, locked.json()["error"]) == (429, "mfa_locked")
    assert int(locked.headers["retry-after"]) == 300
    assert (await second_step(client, token, recovery_code=alice.recovery_codes[0])).status_code == 429
    assert await h.services.lockout.state("login:alice") is None
    assert [r["event"] for r in await audit_rows(h.services, "login.mfa_lockout")] == ["login.mfa_lockout"]
    clock_of(h).advance(300)
    token = await password_step(client, "alice")
    assert (await second_step(client, token, code=code_now(h, alice.seed))).status_code == 200


@pytest.mark.sec("SEC-49")
async def test_the_form_login_shows_the_mfa_page_then_signs_in(h: Harness, alice: Enrolled) -> None:
    browser = h.client()
    page = await browser.get("/login")
    credentials = {
        "username": "alice",
        "password": PASSWORD,
        "csrf_token": hidden(page, "csrf_token"),
        "next": "/x",
    }
    step = await browser.post("/auth/login", data=credentials)
    assert step.status_code == 200
    assert "Two-step verification" in step.text
    assert step.headers["cache-control"] == "no-store"
    assert cookie_value(browser, h.session_cookie_name) is None
    form = {
        "mfa_token": hidden(step, "mfa_token"),
        "next": hidden(step, "next"),
        "csrf_token": hidden(step, "csrf_token"),
    }
    assert form["next"] == "/x"
    forged = await browser.post(
        "/auth/login/mfa", data={**form, "csrf_token": "a.b", "code": code_now(h, alice.seed)}
    )
    assert forged.status_code == 403
    wrong = await browser.post("/auth/login/mfa", data={**form, "code": wrong_code(h, alice.seed)})
    assert wrong.status_code == 401
    assert "The code is not correct." in wrong.text
    assert hidden(wrong, "mfa_token") == form["mfa_token"]
    form["csrf_token"] = hidden(wrong, "csrf_token")
    done = await browser.post("/auth/login/mfa", data={**form, "code": code_now(h, alice.seed)})
    assert (done.status_code, done.headers["location"]) == (303, "/x")
    me = await browser.get("/auth/me")
    assert me.json()["amr"] == ["pwd", "otp"]


async def test_an_expired_form_challenge_goes_back_to_the_login_page(h: Harness, alice: Enrolled) -> None:
    browser = h.client()
    page = await browser.get("/login")
    step = await browser.post(
        "/auth/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": hidden(page, "csrf_token")},
    )
    clock_of(h).advance(301)
    late = await browser.post(
        "/auth/login/mfa",
        data={
            "mfa_token": hidden(step, "mfa_token"),
            "csrf_token": hidden(step, "csrf_token"),
            "code": code_now(h, alice.seed),
        },
    )
    assert late.status_code == 401
    assert 'action="/auth/login"' in late.text and "expired" in late.text


@pytest.mark.sec("SEC-49")
async def test_the_token_endpoint_asks_for_the_second_factor_too(h: Harness, alice: Enrolled) -> None:
    client = h.client()
    first = await client.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert first.status_code == 200
    body = first.json()
    assert body["mfa_required"] is True
    assert "access_token" not in body and "refresh_token" not in body
    assert first.headers["cache-control"] == "no-store"
    wrong = await client.post(
        "/auth/token", json={"mfa_token": body["mfa_token"], "code": wrong_code(h, alice.seed)}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_code")
    tokens = await client.post(
        "/auth/token", json={"mfa_token": body["mfa_token"], "code": code_now(h, alice.seed)}
    )
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    assert pair["token_type"] == "Bearer" and pair["refresh_token"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert (me.status_code, me.json()["username"]) == (200, "alice")
    replay = await client.post(
        "/auth/token", json={"mfa_token": body["mfa_token"], "recovery_code": alice.recovery_codes[0]}
    )
    assert (replay.status_code, replay.json()["error"]) == (401, "mfa_challenge_invalid")
