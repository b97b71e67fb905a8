"""HTTP: passkeys registered, used passwordless and as the second step, renamed and removed, on SQLite
and PostgreSQL (SEC-13, SEC-14, SEC-49, SEC-51, SEC-56)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from passkey_http_support import ISSUER, device, passkey_app, passwordless, register, second_step

from helpers import PASSWORD, Harness, add_user, audit_rows, cookie_value, csrf, login, set_cookies
from ostiary.web.policy_marks import endpoint_routes, route_policy
from ostiary.web.routes import passkeys as passkey_routes
from web.email_http_support import mail_world


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with passkey_app(tmp_path, database_url) as harness:
        yield harness


@pytest.mark.sec("SEC-51")
async def test_register_then_sign_in_without_a_password(h: Harness) -> None:
    phone = device()
    client = h.client()
    token = await login(client, "alice")
    other = h.client()
    await login(other, "alice")
    created = await register(client, token, phone, name="Phone")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["passkey"]["name"] == "Phone" and body["passkey"]["passwordless"] is True
    assert body["mfa_turned_on"] is True and len(body["recovery_codes"]) == 10
    assert created.headers["cache-control"] == "no-store"
    assert (await other.get("/auth/me")).status_code == 401  # opened without the new factor: ended
    listed = (await client.get("/auth/passkeys")).json()["passkeys"]
    assert [p["name"] for p in listed] == ["Phone"]
    assert set(listed[0]) == {
        "id",
        "name",
        "passwordless",
        "synced",
        "transports",
        "created_at",
        "last_used_at",
    }

    browser = h.client()
    signed_in = await passwordless(browser, phone)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["next"] == "/account/passkeys"
    me = (await browser.get("/auth/me")).json()
    assert (me["username"], me["amr"]) == ("alice", ["hwk", "user"])
    assert cookie_value(browser, "ostiary_passkey") is None  # the nonce is spent


@pytest.mark.sec("SEC-51")
async def test_the_passwordless_challenge_belongs_to_the_browser_that_asked(h: Harness) -> None:
    phone = device()
    client = h.client()
    assert (await register(client, await login(client, "alice"), phone)).status_code == 201
    asker, thief = h.client(), h.client()
    options = await asker.post("/auth/passkey/login/options", json={})
    cookie = next(c for c in set_cookies(options) if c.startswith("ostiary_passkey="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=300" in cookie
    signed = phone.get(options.json()["publicKey"])
    stolen = await thief.post("/auth/passkey/login/verify", json={"credential": signed})
    assert stolen.status_code == 401 and stolen.json()["error"] == "passkey_challenge_invalid"
    again = await asker.post("/auth/passkey/login/verify", json={"credential": signed})
    assert again.status_code == 401  # the thief's try used the challenge up


@pytest.mark.sec("SEC-51")
async def test_a_replayed_or_forged_assertion_gets_a_generic_401(h: Harness) -> None:
    phone = device()
    client = h.client()
    await register(client, await login(client, "alice"), phone)
    browser = h.client()
    assert (await passwordless(browser, phone, break_signature=True)).json()["error"] == "passkey_rejected"
    assert (await passwordless(browser, phone, origin="https://evil.example")).status_code == 401
    options = await browser.post("/auth/passkey/login/options", json={})
    signed = phone.get(options.json()["publicKey"])
    assert (await browser.post("/auth/passkey/login/verify", json={"credential": signed})).status_code == 200
    replay = await browser.post("/auth/passkey/login/verify", json={"credential": signed})
    assert replay.status_code == 401
    failures = await audit_rows(h.services, "passkey.assertion_failed")
    assert {row["details"]["reason"] for row in failures} == {"assertion_invalid"}


@pytest.mark.sec("SEC-49")
@pytest.mark.sec("SEC-51")
async def test_a_passkey_is_the_second_step_after_the_password(h: Harness) -> None:
    phone = device()
    client = h.client()
    await register(client, await login(client, "alice"), phone)
    browser = h.client()
    first = await browser.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert first.json()["methods"] == ["webauthn", "recovery_code"]
    assert cookie_value(browser, h.session_cookie_name) is None
    mfa_token = first.json()["mfa_token"]
    offered = await browser.post("/auth/login/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert offered.json()["totp"] is False and offered.json()["publicKey"]["allowCredentials"]
    wrong = await second_step(browser, mfa_token, phone, break_signature=True)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_code"
    done = await second_step(browser, mfa_token, phone)
    assert done.status_code == 200, done.text
    assert done.json()["user"]["amr"] == ["pwd", "hwk", "user"]
    assert (await browser.get("/auth/me")).json()["amr"] == ["pwd", "hwk", "user"]
    used = await browser.post("/auth/login/mfa/passkey/options", json={"mfa_token": mfa_token})
    assert used.status_code == 401 and used.json()["error"] == "mfa_challenge_invalid"


async def test_a_user_without_passkeys_gets_no_options_on_the_mfa_step(h: Harness) -> None:
    await h.services.users.update((await h.services.users.find_by_login("bob")).id, mfa_enabled=True)  # type: ignore[union-attr]
    browser = h.client()
    first = await browser.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    options = await browser.post(
        "/auth/login/mfa/passkey/options", json={"mfa_token": first.json()["mfa_token"]}
    )
    assert options.status_code == 200 and options.json() == {"publicKey": None, "totp": False}


@pytest.mark.sec("SEC-14")
async def test_registration_needs_a_recent_login(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")
    h.services.clock.advance(601)  # type: ignore[attr-defined]
    late = await client.post("/auth/passkeys/register/options", json={}, headers=csrf(token))
    assert late.status_code == 401 and late.json()["error"] == "reauth_required"


@pytest.mark.sec("SEC-14")
async def test_removing_needs_a_login_that_used_a_passkey_or_code(h: Harness) -> None:
    phone = device()
    client = h.client()
    token = await login(client, "alice")
    passkey_id = (await register(client, token, phone)).json()["passkey"]["id"]
    password_only = await client.post(f"/auth/passkeys/{passkey_id}/remove", json={}, headers=csrf(token))
    assert password_only.status_code == 401 and password_only.json()["error"] == "reauth_required"
    browser = h.client()
    signed_in = await passwordless(browser, phone)
    removed = await browser.post(
        f"/auth/passkeys/{passkey_id}/remove", json={}, headers=csrf(signed_in.json()["csrf_token"])
    )
    assert removed.status_code == 200 and removed.json() == {"status": "removed", "mfa_turned_off": True}
    assert (await browser.get("/auth/me")).json()["mfa_enabled"] is False
    assert (await passwordless(h.client(), phone)).status_code == 401  # a removed passkey is unknown


@pytest.mark.sec("SEC-13")
async def test_account_changes_need_the_csrf_token_and_our_origin(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")
    assert (await client.post("/auth/passkeys/register/options", json={})).status_code == 403
    foreign = {**csrf(token), "Origin": "https://evil.example"}
    assert (await client.post("/auth/passkeys/register/options", json={}, headers=foreign)).status_code == 403
    assert (
        await h.client().post(
            "/auth/passkey/login/options", json={}, headers={"Origin": "https://evil.example"}
        )
    ).status_code == 403
    assert (await client.get("/auth/passkeys/register/options")).status_code == 405


@pytest.mark.sec("SEC-56")
async def test_rename_and_remove_act_on_the_callers_own_passkeys_only(h: Harness) -> None:
    client = h.client()
    token = await login(client, "alice")
    passkey_id = (await register(client, token, device())).json()["passkey"]["id"]
    renamed = await client.post(
        f"/auth/passkeys/{passkey_id}/rename", json={"name": "Laptop"}, headers=csrf(token)
    )
    assert renamed.status_code == 204
    bob = h.client()
    bob_token = await login(bob, "bob")
    theirs = await bob.post(
        f"/auth/passkeys/{passkey_id}/rename", json={"name": "x"}, headers=csrf(bob_token)
    )
    assert theirs.status_code == 404
    gone = await bob.post(f"/auth/passkeys/{passkey_id}/remove", json={}, headers=csrf(bob_token))
    assert gone.status_code in (401, 404)  # bob's password-only session fails earlier, or finds nothing
    assert [p["name"] for p in (await client.get("/auth/passkeys")).json()["passkeys"]] == ["Laptop"]


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/auth/passkey/login/verify", b"not json", "application/json"),
        ("/auth/passkey/login/verify", b'{"credential": 5}', "application/json"),
        ("/auth/passkey/login/verify", b"credential=x", "application/x-www-form-urlencoded"),
        ("/auth/login/mfa/passkey", b'{"mfa_token": "x", "credential": "x"}', "application/json"),
        ("/auth/login/mfa/passkey/options", b'{"mfa_token": 7}', "application/json"),
    ],
)
async def test_bad_input_gets_a_clear_error_never_a_500(
    h: Harness, path: str, body: bytes, content_type: str
) -> None:
    await h.client().post("/auth/passkey/login/options", json={})
    response = await h.client().post(path, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["error"]


async def test_the_login_page_offers_passkeys_and_the_account_page_lists_them(h: Harness) -> None:
    page = await h.client().get("/login")
    assert 'id="passkey-login"' in page.text and "/static/passkeys.js" in page.text
    assert (await h.client().get("/account/passkeys")).headers["location"] == "/login?next=/account/passkeys"
    client = h.client()
    token = await login(client, "alice")
    await register(client, token, device(), name="Desk <key>")
    account = await client.get("/account/passkeys")
    assert account.status_code == 200
    assert "Desk &lt;key&gt;" in account.text and f'data-csrf="{token}"' in account.text
    assert "script-src 'self'" in account.headers["content-security-policy"]
    assert (await h.client().get("/static/passkeys.js")).status_code == 200


async def test_an_ip_address_issuer_has_no_passkeys(tmp_path: Path, database_url: str) -> None:
    async with passkey_app(tmp_path, database_url, issuer="http://127.0.0.1:8000") as harness:
        assert harness.services.passkeys is None
        assert harness.services.mfa.login.passkeys is None
        client = harness.client()
        assert (await client.post("/auth/passkey/login/options", json={})).status_code == 404
        assert 'id="passkey-login"' not in (await client.get("/login")).text


@pytest.mark.sec("SEC-14")
async def test_adding_and_removing_a_passkey_is_announced_by_mail(tmp_path: Path, database_url: str) -> None:
    async with mail_world(tmp_path, database_url, issuer=ISSUER, login_notices_enabled=False) as world:
        await add_user(world.h.services, "carol")
        phone = device()
        client = world.h.client()
        created = await register(client, await login(client, "carol"), phone, name="Phone")
        added = await world.last_mail_to("carol@example.org")
        assert added.subject == "Your two-step verification settings changed"
        assert "A passkey (Phone) was added on your account" in added.text
        browser = world.h.client()
        token = (await passwordless(browser, phone)).json()["csrf_token"]
        passkey_id = created.json()["passkey"]["id"]
        assert (
            await browser.post(f"/auth/passkeys/{passkey_id}/remove", json={}, headers=csrf(token))
        ).status_code == 200
        removed = await world.last_mail_to("carol@example.org", count=2)
        assert "A passkey was removed and two-step verification turned off" in removed.text


@pytest.mark.sec("SEC-55")
def test_every_passkey_route_declares_its_policy() -> None:
    routes = endpoint_routes(passkey_routes.router.routes)
    assert len(routes) == 10
    assert {route.path: route_policy(route) for route in routes if route_policy(route) is None} == {}
