"""Password reset by email over HTTP, with the mail read from a real SMTP server (SEC-06, SEC-62,
SEC-64, SEC-75): identical answers for known and unknown addresses, a single-use ≥128-bit link that
expires, sessions and refresh tokens ended, MFA still required, a notice mailed."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from email_http_support import MailWorld, comparable_headers, hidden, mail_world, path_of, token_of

from helpers import OTHER_PASSWORD, PASSWORD, add_user, audit_rows, login
from ostiary.authn.totp import PERIOD, code_at, step_at

NEW_PASSWORD = "quiet harbour lights after rain"


@pytest.fixture
async def w(tmp_path: Path, database_url: str) -> AsyncIterator[MailWorld]:
    async with mail_world(tmp_path, database_url) as world:
        await add_user(world.h.services, "alice", email="alice@example.org")
        yield world


async def request_reset(w: MailWorld, email: str, **headers: str):  # type: ignore[no-untyped-def]
    return await w.h.client().post("/auth/password-reset", json={"email": email}, headers=headers)


async def reset_link(w: MailWorld, address: str = "alice@example.org") -> str:
    response = await request_reset(w, address)
    assert response.status_code == 202, response.text
    mail = await w.last_mail_to(address)
    assert mail.subject == "Reset your password"
    return mail.link("/password-reset/confirm")


@pytest.mark.sec("SEC-06")
@pytest.mark.sec("SEC-64")
async def test_known_and_unknown_addresses_get_the_same_answer_and_only_the_owner_a_mail(
    w: MailWorld,
) -> None:
    rid = {"X-Request-ID": "same-request-id-0002"}
    known = await request_reset(w, "alice@example.org", **rid)
    unknown = await request_reset(w, "nobody@example.org", **rid)
    known_other_case = await request_reset(w, "ALICE@example.ORG", **rid)
    assert known.status_code == unknown.status_code == known_other_case.status_code == 202
    assert known.content == unknown.content == known_other_case.content
    assert comparable_headers(known) == comparable_headers(unknown)
    assert known.headers.get_list("set-cookie") == unknown.headers.get_list("set-cookie") == []
    await w.settle()
    assert len(w.sink.to("alice@example.org")) == 2
    assert w.sink.to("nobody@example.org") == []
    assert len(w.sink.received()) == 2
    outcomes = [
        (r["outcome"], r["subject"]) for r in await audit_rows(w.h.services, "password.reset_request")
    ]
    alice = await w.h.services.users.find_by_login("alice")
    assert alice is not None
    assert sorted(outcomes, key=str) == sorted(
        [("success", alice.id), ("failure", None), ("success", alice.id)], key=str
    )


@pytest.mark.sec("SEC-06")
async def test_malformed_addresses_are_refused_by_shape_alone(w: MailWorld) -> None:
    for bad in ("", "alice", "a@b", "alice@example.org\r\nBcc: x@evil.example", "x" * 400 + "@example.org"):
        response = await request_reset(w, bad)
        assert response.status_code == 400, bad
        assert response.json()["error"] == "invalid_email"
    await w.settle()
    assert w.sink.received() == []


@pytest.mark.sec("SEC-06")
@pytest.mark.sec("SEC-04")
async def test_the_link_sets_a_new_password_ends_sessions_and_refresh_tokens_and_mails_a_notice(
    w: MailWorld,
) -> None:
    browser = w.h.client()
    await login(browser, "alice")
    session = w.h.session_of(browser)
    tokens = await w.h.http.post("/auth/token", json={"username": "alice", "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    refresh_token = tokens.json()["refresh_token"]
    link = await reset_link(w)
    token = token_of(link)
    assert len(token) >= 43  # 256 bits in base64url; at least 128 bits required
    page = await w.h.client().get(path_of(link))
    assert page.status_code == 200
    assert "alice" in page.text
    assert hidden(page, "token") == token
    done = await w.h.client().post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"status": "password_reset"}
    assert not any(
        w.h.session_cookie_name in c and "Max-Age=0" not in c for c in done.headers.get_list("set-cookie")
    )
    assert await w.h.status_with(session) == 401  # every session ended
    refreshed = await w.h.http.post("/auth/token/refresh", json={"refresh_token": refresh_token})
    assert refreshed.status_code in (400, 401), refreshed.text  # the family was revoked
    notice = await w.last_mail_to("alice@example.org", 2)
    assert notice.subject == "Your password was changed"
    bad = await w.h.client().post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert bad.status_code == 401
    await login(w.h.client(), "alice", NEW_PASSWORD)
    assert [r["outcome"] for r in await audit_rows(w.h.services, "password.reset")] == ["success"]


@pytest.mark.sec("SEC-06")
async def test_a_second_use_and_an_expired_link_answer_400(w: MailWorld) -> None:
    token = token_of(await reset_link(w))
    first = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert first.status_code == 200
    again = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": OTHER_PASSWORD}
    )
    assert again.status_code == 400
    assert again.json()["error"] == "link_invalid"
    await login(w.h.client(), "alice", NEW_PASSWORD)  # the second use changed nothing

    late = token_of(await reset_link(w))
    w.clock.advance(3600)  # OSTIARY_PASSWORD_RESET_TTL_SECONDS defaults to (and is capped at) one hour
    expired = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": late, "new_password": OTHER_PASSWORD}
    )
    assert expired.status_code == 400
    assert expired.json()["error"] == "link_invalid"
    page = await w.h.client().get("/password-reset/confirm?token=" + late)
    assert page.status_code == 400
    assert "expired" in page.text
    await login(w.h.client(), "alice", NEW_PASSWORD)


@pytest.mark.sec("SEC-06")
@pytest.mark.sec("SEC-75")
async def test_twenty_concurrent_uses_of_one_link_make_exactly_one_change(w: MailWorld) -> None:
    token = token_of(await reset_link(w))
    gate = asyncio.Barrier(20)

    async def attempt(i: int) -> int:
        client = w.h.client()
        await gate.wait()
        body = {"token": token, "new_password": f"{NEW_PASSWORD} {i:02d}"}
        return (await client.post("/auth/password-reset/confirm", json=body)).status_code

    statuses = await asyncio.gather(*(attempt(i) for i in range(20)))
    assert sorted(statuses) == [200] + [400] * 19
    outcomes = [r["outcome"] for r in await audit_rows(w.h.services, "password.reset")]
    assert outcomes.count("success") == 1


@pytest.mark.sec("SEC-06")
@pytest.mark.sec("SEC-01")
async def test_the_password_policy_applies_and_a_refused_password_does_not_use_the_link_up(
    w: MailWorld,
) -> None:
    token = token_of(await reset_link(w))
    short = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "too short"}
    )
    assert short.status_code == 400
    assert short.json()["error"] == "password_too_short"
    named = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "alice alice alice alice"}
    )
    assert named.status_code == 400
    ok = await w.h.http.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 200


@pytest.mark.sec("SEC-06")
@pytest.mark.sec("SEC-49")
async def test_a_user_with_mfa_still_needs_the_second_factor_after_a_reset(w: MailWorld) -> None:
    import base64

    client = w.h.client()
    csrf_token = await login(client, "alice")
    start = await client.post("/auth/mfa/totp", headers={"X-CSRF-Token": csrf_token})
    assert start.status_code == 200, start.text
    secret = start.json()["secret"]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    confirm = await client.post(
        "/auth/mfa/totp/confirm",
        json={"code": code_at(seed, step_at(w.clock.now()))},
        headers={"X-CSRF-Token": csrf_token},
    )
    assert confirm.status_code == 200, confirm.text
    w.clock.advance(PERIOD)

    link = await reset_link(w)
    mail = await w.last_mail_to("alice@example.org")
    assert "second factor" in mail.text
    browser = w.h.client()
    done = await browser.post(
        "/auth/password-reset/confirm", json={"token": token_of(link), "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert (await browser.get("/auth/me")).status_code == 401  # the reset logs nobody in
    again = await browser.post("/auth/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert again.status_code == 200
    assert again.json()["mfa_required"] is True
    assert (await browser.get("/auth/me")).status_code == 401


async def test_the_form_flow_from_the_request_page_to_the_new_password(w: MailWorld) -> None:
    browser = w.h.client()
    page = await browser.get("/password-reset")
    assert page.status_code == 200
    sent = await browser.post(
        "/auth/password-reset", data={"email": "alice@example.org", "csrf_token": hidden(page, "csrf_token")}
    )
    assert sent.status_code == 200
    assert "Check your email" in sent.text
    link = (await w.last_mail_to("alice@example.org")).link("/password-reset/confirm")
    form = await browser.get(path_of(link))
    weak = await browser.post(
        "/auth/password-reset/confirm",
        data={
            "token": hidden(form, "token"),
            "new_password": "short",
            "csrf_token": hidden(form, "csrf_token"),
        },
    )
    assert weak.status_code == 400
    assert "at least" in weak.text.lower()
    done = await browser.post(
        "/auth/password-reset/confirm",
        data={
            "token": hidden(weak, "token"),
            "new_password": NEW_PASSWORD,
            "csrf_token": hidden(weak, "csrf_token"),
        },
    )
    assert done.status_code == 200
    assert "Password changed" in done.text
    no_token = await w.h.client().post("/auth/password-reset", data={"email": "alice@example.org"})
    assert no_token.status_code == 403


@pytest.mark.sec("SEC-62")
async def test_requests_are_limited_per_address_and_per_ip_and_audited(
    tmp_path: Path, database_url: str
) -> None:
    limits = {"rate_limit_mail_per_address": "3/hour", "rate_limit_mail_per_ip": "6/minute"}
    async with mail_world(tmp_path, database_url, **limits) as w:
        statuses = [(await request_reset(w, "victim@example.org")).status_code for _ in range(4)]
        assert statuses == [202, 202, 202, 429]
        other = [(await request_reset(w, f"user{i}@example.org")).status_code for i in range(3)]
        assert other == [202, 202, 429]  # the IP's budget of 6 is spent
        limited = await request_reset(w, "fresh@example.org")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert len(await audit_rows(w.h.services, "mail.throttled")) == 3


@pytest.mark.sec("SEC-64")
async def test_known_and_unknown_addresses_take_the_same_time(w: MailWorld, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one backend is enough for a timing comparison; the request path touches no store")
    client = w.h.client()
    samples: dict[str, list[float]] = {"alice@example.org": [], "nobody@example.org": []}
    for _ in range(60):
        for address, times in samples.items():
            started = time.perf_counter()
            response = await client.post("/auth/password-reset", json={"email": address})
            times.append(time.perf_counter() - started)
            assert response.status_code == 202
            await w.settle()  # the background work of one sample must not slow the next
    gap = abs(
        statistics.median(samples["alice@example.org"]) - statistics.median(samples["nobody@example.org"])
    )
    assert gap < 0.005, gap
