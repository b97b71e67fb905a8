"""CSRF and Origin checks on every state-changing endpoint (SEC-13)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from helpers import OTHER_PASSWORD, PASSWORD, Harness, add_user, csrf, login, make_app

pytestmark = pytest.mark.sec("SEC-13")
EVIL = "https://evil.example"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_state_changing_endpoints_refuse_bad_tokens_and_foreign_origins(h: Harness) -> None:
    alice = await add_user(h.services, "alice", roles=["admin"])
    victim = await add_user(h.services, "victim")
    token = await login(h.http, "alice")
    spare = h.client()
    await login(spare, "alice")  # a second session of alice, for the revoke endpoints
    bob = h.client()
    bob_token = await login(bob, "alice")  # yet another session: its token is not this session's
    victim_client = h.client()
    await login(victim_client, "victim")
    handle = next(
        s["id"] for s in (await h.http.get("/auth/sessions")).json()["sessions"] if not s["current"]
    )
    sessions_before = len(await h.services.sessions.list_user(alice.id))

    endpoints = [
        ("/auth/logout", None),
        ("/auth/password", {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}),
        (f"/auth/sessions/{handle}/revoke", None),
        ("/auth/sessions/revoke-others", None),
        (f"/admin/users/{victim.id}/sessions/revoke", None),
        (f"/admin/users/{victim.id}/disable", None),
    ]
    bad_headers = [
        ("missing", {}),
        ("wrong", {"X-CSRF-Token": "A" * 43}),
        ("empty", {"X-CSRF-Token": ""}),
        ("other session", {"X-CSRF-Token": bob_token}),
        ("evil origin", {"X-CSRF-Token": token, "Origin": EVIL}),
        ("null origin", {"X-CSRF-Token": token, "Origin": "null"}),
    ]
    for path, body in endpoints:
        for label, headers in bad_headers:
            response = await h.http.post(path, json=body, headers=headers)
            assert response.status_code == 403, (path, label, response.status_code, response.text)
            assert response.json()["error"] in ("csrf_failed", "origin_mismatch"), (path, label)

    # Nothing changed.
    assert (await h.http.get("/auth/me")).status_code == 200
    assert (await spare.get("/auth/me")).status_code == 200
    assert (await victim_client.get("/auth/me")).status_code == 200
    assert (await h.services.users.get(alice.id)).password_hash == alice.password_hash
    assert not (await h.services.users.get(victim.id)).disabled
    assert len(await h.services.sessions.list_user(alice.id)) == sessions_before

    # The right token (header, or form field) works.
    assert (await h.http.post(f"/auth/sessions/{handle}/revoke", headers=csrf(token))).status_code == 204
    assert (await spare.get("/auth/me")).status_code == 401
    logout = await h.http.post("/auth/logout", data={"csrf_token": token})
    assert logout.status_code == 303
    assert (await h.http.get("/auth/me")).status_code == 401


async def test_form_posts_with_the_wrong_form_token_are_refused(h: Harness) -> None:
    await add_user(h.services, "alice")
    token = await login(h.http, "alice")
    for data in ({}, {"csrf_token": "nope"}, {"csrf_token": token + "x"}):
        assert (await h.http.post("/auth/logout", data=data)).status_code == 403
    assert (await h.http.get("/auth/me")).status_code == 200


async def test_form_login_needs_the_pre_session_token_of_the_login_page(h: Harness) -> None:
    await add_user(h.services, "alice")
    credentials = {"username": "alice", "password": PASSWORD}
    # No token at all, a forged one, and one without its cookie: refused, no session made.
    attacker = h.client()
    assert (await attacker.post("/auth/login", data=credentials)).status_code == 403
    forged = {**credentials, "csrf_token": "abc.def"}
    assert (await attacker.post("/auth/login", data=forged)).status_code == 403
    page_token = form_token(await h.client().get("/login"))
    no_cookie = await attacker.post("/auth/login", data={**credentials, "csrf_token": page_token})
    assert no_cookie.status_code == 403
    assert not any(c.name.endswith("ostiary_session") for c in attacker.cookies.jar)
    # Cross-site form post, even with a valid token pair.
    browser = h.client()
    token = form_token(await browser.get("/login"))
    evil = await browser.post(
        "/auth/login", data={**credentials, "csrf_token": token}, headers={"Origin": EVIL}
    )
    assert evil.status_code == 403
    # The real page flow.
    ok = await browser.post("/auth/login", data={**credentials, "csrf_token": token, "next": "/"})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/"
    assert (await browser.get("/auth/me")).status_code == 200
    same_origin = await h.client().post(
        "/auth/login", json=credentials, headers={"Origin": "http://127.0.0.1:8000"}
    )
    assert same_origin.status_code == 200


async def test_json_login_and_register_from_a_foreign_origin_are_refused(h: Harness) -> None:
    await add_user(h.services, "alice")
    login_ = await h.http.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}, headers={"Origin": EVIL}
    )
    assert login_.status_code == 403
    register = await h.http.post(
        "/auth/register", json={"username": "eve", "password": PASSWORD}, headers={"Origin": EVIL}
    )
    assert register.status_code == 403
    assert await h.services.users.find_by_login("eve") is None


@pytest.mark.parametrize(
    "path",
    [
        "/auth/login",
        "/auth/logout",
        "/auth/register",
        "/auth/password",
        "/auth/sessions/revoke-others",
        "/auth/sessions/abc/revoke",
        "/admin/users/abc/disable",
        "/admin/users/abc/sessions/revoke",
    ],
)
async def test_state_changing_endpoints_refuse_get(h: Harness, path: str) -> None:
    await add_user(h.services, "alice", roles=["admin"])
    await login(h.http, "alice")
    assert (await h.http.get(path)).status_code == 405
    assert (await h.http.get("/auth/me")).status_code == 200


async def test_a_same_origin_form_post_as_chromium_sends_it_is_accepted(h: Harness) -> None:
    await add_user(h.services, "alice")
    browser = h.client()
    token = form_token(await browser.get("/login"))
    chromium_headers = {"Origin": "null", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    response = await browser.post(
        "/auth/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers=chromium_headers,
    )
    assert response.status_code == 303


async def test_a_cross_site_form_post_with_a_null_origin_is_refused(h: Harness) -> None:
    await add_user(h.services, "alice")
    browser = h.client()
    token = form_token(await browser.get("/login"))
    headers = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    response = await browser.post(
        "/auth/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}, headers=headers
    )
    assert response.status_code == 403
    assert (await browser.get("/auth/me")).status_code == 401
