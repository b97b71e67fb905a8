"""Magic-link login over HTTP with the mail read from a real SMTP server: identical answers (SEC-64),
bound to the asking browser, single use under concurrency (SEC-75), short-lived, and one factor only
for a user with MFA (SEC-49)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from email_http_support import MailWorld, comparable_headers, hidden, mail_world, path_of, token_of

from helpers import add_user, audit_rows, cookie_value, csrf, login
from ostiary.authn.totp import PERIOD, code_at, step_at

LINK_COOKIE = "ostiary_link"  # plain-HTTP loopback issuer: no __Host- prefix


@pytest.fixture
async def w(tmp_path: Path, database_url: str) -> AsyncIterator[MailWorld]:
    async with mail_world(tmp_path, database_url) as world:
        await add_user(world.h.services, "alice", email="alice@example.org", roles=["viewer"])
        yield world


async def ask(w: MailWorld, browser: httpx.AsyncClient, email: str = "alice@example.org") -> str:
    response = await browser.post("/auth/magic-link", json={"email": email})
    assert response.status_code == 202, response.text
    mail = await w.last_mail_to(email, len(w.sink.to(email)) + 1)
    assert mail.subject == "Your sign-in link"
    return mail.link("/magic-link/confirm")


@pytest.mark.sec("SEC-64")
async def test_known_and_unknown_addresses_get_the_same_answer(w: MailWorld) -> None:
    rid = {"X-Request-ID": "same-request-id-0003"}
    known = await w.h.client().post("/auth/magic-link", json={"email": "alice@example.org"}, headers=rid)
    unknown = await w.h.client().post("/auth/magic-link", json={"email": "ghost@example.org"}, headers=rid)
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert comparable_headers(known) == comparable_headers(unknown)
    # Both set the browser-binding cookie, with the same attributes and a random value.
    shapes = [
        [c.split("=", 1)[0] + ";" + c.split(";", 1)[1] for c in r.headers.get_list("set-cookie")]
        for r in (known, unknown)
    ]
    assert shapes[0] == shapes[1]
    assert "HttpOnly" in shapes[0][0]
    assert "SameSite=lax" in shapes[0][0]
    await w.settle()
    assert len(w.sink.received()) == 1
    assert w.sink.to("ghost@example.org") == []


async def test_the_link_signs_in_the_browser_that_asked(w: MailWorld) -> None:
    browser = w.h.client()
    link = await ask(w, browser)
    page = await browser.get(path_of(link))
    assert page.status_code == 200
    assert hidden(page, "token") == token_of(link)
    assert cookie_value(browser, w.h.session_cookie_name) is None  # opening the link signs nobody in
    done = await browser.post("/auth/magic-link/confirm", json={"token": token_of(link)})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["amr"] == ["email"]
    assert body["user"]["email_verified"] is True  # the link proved the address
    me = await browser.get("/auth/me")
    assert me.status_code == 200
    assert cookie_value(browser, LINK_COOKIE) is None  # the binding cookie is spent
    events = [
        (r["event"], r["details"].get("factor"))
        for r in await audit_rows(w.h.services)
        if r["event"].startswith("login.")
    ]
    assert ("login.success", "email_link") in events


async def test_the_form_flow_signs_in_and_redirects(w: MailWorld) -> None:
    browser = w.h.client()
    page = await browser.get("/magic-link")
    sent = await browser.post(
        "/auth/magic-link", data={"email": "alice@example.org", "csrf_token": hidden(page, "csrf_token")}
    )
    assert sent.status_code == 200
    assert "Check your email" in sent.text
    link = (await w.last_mail_to("alice@example.org")).link("/magic-link/confirm")
    confirm = await browser.get(path_of(link))
    done = await browser.post(
        "/auth/magic-link/confirm",
        data={"token": hidden(confirm, "token"), "csrf_token": hidden(confirm, "csrf_token")},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/"
    assert (await browser.get("/auth/me")).status_code == 200


@pytest.mark.sec("SEC-75")
async def test_another_browser_cannot_use_the_link_and_the_asking_browser_still_can(w: MailWorld) -> None:
    browser = w.h.client()
    link = await ask(w, browser)
    thief = w.h.client()
    page = await thief.get(path_of(link))
    assert page.status_code == 400
    assert "another browser" in page.text
    refused = await thief.post("/auth/magic-link/confirm", json={"token": token_of(link)})
    assert refused.status_code == 400
    assert refused.json()["error"] == "link_other_browser"
    forged = w.h.client(cookies={LINK_COOKIE: "a" * 43})
    assert (await forged.post("/auth/magic-link/confirm", json={"token": token_of(link)})).status_code == 400
    assert (await thief.get("/auth/me")).status_code == 401
    ok = await browser.post("/auth/magic-link/confirm", json={"token": token_of(link)})
    assert ok.status_code == 200


@pytest.mark.sec("SEC-75")
async def test_twenty_concurrent_uses_make_exactly_one_session(w: MailWorld) -> None:
    browser = w.h.client()
    link = await ask(w, browser)
    nonce = cookie_value(browser, LINK_COOKIE)
    assert nonce
    gate = asyncio.Barrier(20)

    async def attempt() -> int:
        client = w.h.client(cookies={LINK_COOKIE: nonce})
        await gate.wait()
        return (await client.post("/auth/magic-link/confirm", json={"token": token_of(link)})).status_code

    statuses = await asyncio.gather(*(attempt() for _ in range(20)))
    assert sorted(statuses) == [200] + [400] * 19
    alice = await w.h.services.users.find_by_login("alice")
    assert alice is not None
    assert len(await w.h.services.sessions.list_user(alice.id)) == 1


async def test_a_link_expires_after_fifteen_minutes(w: MailWorld) -> None:
    browser = w.h.client()
    link = await ask(w, browser)
    w.clock.advance(900)
    page = await browser.get(path_of(link))
    assert page.status_code == 400
    late = await browser.post("/auth/magic-link/confirm", json={"token": token_of(link)})
    assert late.status_code == 400
    assert late.json()["error"] == "link_invalid"


async def test_asking_twice_in_one_browser_keeps_both_links_usable_once(w: MailWorld) -> None:
    browser = w.h.client()
    first = await ask(w, browser)
    second = await ask(w, browser)
    assert token_of(first) != token_of(second)
    assert (
        await browser.post("/auth/magic-link/confirm", json={"token": token_of(first)})
    ).status_code == 200
    # The first sign-in spent the binding cookie; the second link now belongs to no browser here.
    assert (
        await browser.post("/auth/magic-link/confirm", json={"token": token_of(second)})
    ).status_code == 400
    assert (
        await browser.post("/auth/magic-link/confirm", json={"token": token_of(first)})
    ).status_code == 400


@pytest.mark.sec("SEC-49")
async def test_for_a_user_with_mfa_the_link_is_only_the_first_factor(w: MailWorld) -> None:
    setup = w.h.client()
    token = await login(setup, "alice")
    start = await setup.post("/auth/mfa/totp", headers=csrf(token))
    secret = start.json()["secret"]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    confirm = await setup.post(
        "/auth/mfa/totp/confirm", json={"code": code_at(seed, step_at(w.clock.now()))}, headers=csrf(token)
    )
    assert confirm.status_code == 200, confirm.text
    w.clock.advance(PERIOD)

    browser = w.h.client()
    link = await ask(w, browser)
    half = await browser.post("/auth/magic-link/confirm", json={"token": token_of(link)})
    assert half.status_code == 200, half.text
    assert half.json()["mfa_required"] is True
    assert cookie_value(browser, w.h.session_cookie_name) is None
    assert (await browser.get("/auth/me")).status_code == 401
    done = await browser.post(
        "/auth/login/mfa",
        json={"mfa_token": half.json()["mfa_token"], "code": code_at(seed, step_at(w.clock.now()))},
    )
    assert done.status_code == 200, done.text
    assert done.json()["user"]["amr"] == ["email", "otp"]


async def test_disabled_users_get_no_link_and_their_links_stop_working(w: MailWorld) -> None:
    browser = w.h.client()
    link = await ask(w, browser)
    alice = await w.h.services.users.find_by_login("alice")
    assert alice is not None
    await w.h.services.users.update(alice.id, disabled=True)
    assert (await browser.post("/auth/magic-link/confirm", json={"token": token_of(link)})).status_code == 400
    assert (await browser.post("/auth/magic-link", json={"email": "alice@example.org"})).status_code == 202
    await w.settle()
    assert len(w.sink.to("alice@example.org")) == 1


async def test_magic_links_switched_off_mount_no_route(tmp_path: Path, database_url: str) -> None:
    async with mail_world(tmp_path, database_url, magic_link_enabled=False) as w:
        assert (await w.h.http.post("/auth/magic-link", json={"email": "a@example.org"})).status_code == 404
        assert (await w.h.http.get("/magic-link")).status_code == 404
