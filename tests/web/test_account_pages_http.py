"""HTTP: the account pages (docs/account.md) — every page and form through the ASGI app: sign-in
redirects, clean HTML under the CSP, CSRF on every form, and each section's change with its rules
(recent sign-in, password policy, notices by mail, another user's ids not found), on SQLite and
PostgreSQL (SEC-04, SEC-13, SEC-14, SEC-41, SEC-50, SEC-54, SEC-56, SEC-67)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from authn.mail_sink import SmtpSink
from helpers import OTHER_PASSWORD, PASSWORD, Harness, add_user, audit_rows, csrf, free_port, make_app
from ostiary.authn.totp import PERIOD, code_at, step_at
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.core.clock import FrozenClock
from ostiary.realm.importer import read_realm_file
from web.email_http_support import NO_MAIL_LIMITS
from web.oauth.oauth_browser import Pkce, code_flow, redeem, register_client

LOCALHOST = "http://localhost:8000"  # a host name: passkeys are on, so /account/passkeys exists
PAGES = [
    "/account",
    "/account/profile",
    "/account/password",
    "/account/two-step",
    "/account/passkeys",
    "/account/sessions",
    "/account/apps",
    "/account/api-keys",
]
FORMS = [
    "/account/profile",
    "/account/profile/verify",
    "/account/password",
    "/account/two-step/totp",
    "/account/two-step/totp/confirm",
    "/account/two-step/totp/disable",
    "/account/two-step/recovery-codes",
    "/account/sessions/revoke",
    "/account/sessions/revoke-others",
    "/account/sessions/tokens/revoke",
    "/account/apps/revoke",
    "/account/api-keys",
    "/account/api-keys/revoke",
]
REAUTH_WINDOW = 600


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink.start(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def h(tmp_path: Path, database_url: str, sink: SmtpSink) -> AsyncIterator[Harness]:
    """alice (viewer: docs:read) and bob; mail over SMTP to a local sink; a frozen clock."""
    settings = {
        "issuer": LOCALHOST,
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port,
        "smtp_security": "none",
        "login_notices_enabled": False,
        **NO_MAIL_LIMITS,
    }
    async with make_app(tmp_path, database_url, clock=FrozenClock(), **settings) as harness:
        await add_user(harness.services, "alice", email="alice@example.org", roles=["viewer"])
        await add_user(harness.services, "bob", email="bob@example.org")
        yield harness
        await harness.services.email.mailer.drain()


def clock_of(h: Harness) -> FrozenClock:
    clock = h.services.clock
    assert isinstance(clock, FrozenClock)
    return clock


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


async def browser(h: Harness, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A browser signed in through the login form, as a person does."""
    client = h.client()
    page = await client.get("/login")
    answer = await client.post(
        "/auth/login",
        data={"csrf_token": hidden(page, "csrf_token"), "username": username, "password": password},
    )
    assert answer.status_code == 303, answer.text
    return client


async def submit(client: httpx.AsyncClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Open `page`, then post one of its forms with the page's CSRF token."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    if 'name="csrf_token"' not in shown.text:  # a page without a form of its own (nothing to revoke)
        shown = await client.get("/account")
    return await client.post(action, data={"csrf_token": hidden(shown, "csrf_token"), **fields})


async def mails_to(h: Harness, sink: SmtpSink, address: str, count: int) -> list[str]:
    await h.services.email.mailer.drain()
    return [m.subject for m in await sink.wait_for(count, to=address)]


# ------------------------------------------------------------------------------------ the pages


@pytest.mark.parametrize("path", PAGES)
async def test_a_stranger_is_sent_to_log_in_and_back(h: Harness, path: str) -> None:
    answer = await h.client().get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next={path}"


@pytest.mark.sec("SEC-67")
async def test_every_page_is_clean_html_under_the_csp_and_keyboard_friendly(h: Harness) -> None:
    alice = await browser(h, "alice")
    for path in PAGES:
        page = await alice.get(path)
        assert page.status_code == 200, (path, page.text)
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
        html = page.text
        # No inline script or style, no style attributes: nothing the CSP would block.
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", html), path
        assert "<style" not in html and " style=" not in html, path
        # No third-party asset: every src and href is our own path (or an anchor).
        for url in re.findall(r'(?:src|href)="([^"]*)"', html):
            assert url.startswith(("/", "#")) and not url.startswith("//"), (path, url)
        # Every form posts with the session's token; every visible field has a label.
        for form in re.findall(r'<form method="post"[^>]*>.*?</form>', html, re.S):
            assert 'name="csrf_token"' in form, (path, form)
        for field_id in re.findall(
            r'<(?:input|select)(?![^>]*type="(?:hidden|checkbox|radio)")[^>]*\bid="([^"]+)"', html
        ):
            assert f'<label for="{field_id}"' in html, (path, field_id)
        assert "<div onclick" not in html and 'role="button"' not in html  # buttons are buttons
        current = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
        assert current == [path], (path, current)


@pytest.mark.sec("SEC-13")
async def test_every_form_needs_the_session_csrf_token_and_our_origin(h: Harness) -> None:
    alice = await browser(h, "alice")
    other = await browser(h, "alice")
    token = hidden(await alice.get("/account"), "csrf_token")
    for action in FORMS:
        missing = await alice.post(action, data={"username": "mallory", "session": "x"})
        assert missing.status_code == 403, (action, missing.text)
        assert missing.json()["error"] == "csrf_failed"
        foreign = await alice.post(
            action,
            data={"csrf_token": token, "username": "mallory"},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403, (action, foreign.text)
        if action not in PAGES:  # a form's own route answers only POST
            assert (await alice.get(action)).status_code == 405
        stranger = await h.client().post(action, data={"csrf_token": token})
        assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login?next=/account")
    me = (await alice.get("/auth/me")).json()
    assert me["username"] == "alice" and me["mfa_enabled"] is False  # nothing was changed
    assert (await other.get("/auth/me")).status_code == 200  # revoke-others did nothing
    assert await audit_rows(h.services, "session.revoke_others") == []


async def test_the_login_page_links_to_reset_and_magic_link_and_says_why_on_reauth(
    tmp_path: Path, database_url: str, h: Harness
) -> None:
    page = await h.client().get("/login", params={"next": "/account/profile", "reauth": "1"})
    assert 'href="/password-reset"' in page.text and 'href="/magic-link"' in page.text
    assert "Sign in again to confirm it is you" in page.text
    # The same data directory (instance secret) and database as `h`, with magic links off.
    async with make_app(tmp_path, database_url, magic_link_enabled=False) as off:
        plain = await off.client().get("/login")
        assert 'href="/password-reset"' in plain.text and "/magic-link" not in plain.text


# ------------------------------------------------------------------------------ profile and email


@pytest.mark.sec("SEC-14")
async def test_changing_the_email_mails_both_addresses_and_needs_a_recent_sign_in(
    h: Harness, sink: SmtpSink
) -> None:
    alice = await browser(h, "alice")
    saved = await submit(
        alice, "/account/profile", "/account/profile", username="alice", email="a@new.example"
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/account/profile?done=email"
    page = await alice.get(saved.headers["location"])
    assert "A confirmation link went to the new address" in page.text
    assert "a@new.example is not confirmed yet." in page.text
    assert await mails_to(h, sink, "alice@example.org", 1) == [
        "The email address of your account was changed"
    ]
    assert await mails_to(h, sink, "a@new.example", 1) == ["Confirm your email address"]

    resent = await submit(alice, "/account/profile", "/account/profile/verify")
    assert resent.headers["location"] == "/account/profile?done=verify_sent"
    assert len(await mails_to(h, sink, "a@new.example", 2)) == 2

    # Past the re-authentication window: the page says why and offers the way back.
    clock_of(h).advance(REAUTH_WINDOW + 1)
    refused = await submit(
        alice, "/account/profile", "/account/profile", username="alice", email="b@new.example"
    )
    assert refused.status_code == 401
    assert 'href="/login?next=/account/profile&amp;reauth=1"' in refused.text
    assert 'value="b@new.example"' in refused.text  # what was typed is kept
    json_refused = await alice.patch(
        "/auth/me", json={"email": "b@new.example"}, headers=csrf(hidden(refused, "csrf_token"))
    )
    assert json_refused.status_code == 401 and json_refused.json()["error"] == "reauth_required"
    renamed = await submit(
        alice, "/account/profile", "/account/profile", username="alice2", email="a@new.example"
    )
    assert renamed.headers["location"] == "/account/profile?done=profile"  # a username needs no reauth
    assert (await alice.get("/auth/me")).json()["email"] == "a@new.example"

    # Signing in again is the re-authentication, and brings the user back to the page.
    login_page = await alice.get("/login?next=/account/profile&reauth=1")
    again = await alice.post(
        "/auth/login",
        data={
            "csrf_token": hidden(login_page, "csrf_token"),
            "next": "/account/profile",
            "username": "alice2",
            "password": PASSWORD,
        },
    )
    assert again.status_code == 303 and again.headers["location"] == "/account/profile"
    done = await submit(
        alice, "/account/profile", "/account/profile", username="alice2", email="b@new.example"
    )
    assert done.headers["location"] == "/account/profile?done=email"


async def test_a_bad_profile_is_refused_on_the_page_and_nothing_changes(h: Harness) -> None:
    alice = await browser(h, "alice")
    for username, email, message in [
        ("has space", "", "Usernames cannot contain"),
        ("alice", "not-an-address", "email: not an email address"),
        ("bob", "", ""),  # taken
    ]:
        refused = await submit(alice, "/account/profile", "/account/profile", username=username, email=email)
        assert refused.status_code in (400, 409), refused.text
        assert 'role="alert"' in refused.text and message in refused.text
    me = (await alice.get("/auth/me")).json()
    assert (me["username"], me["email"]) == ("alice", "alice@example.org")


# ------------------------------------------------------------------------------------- password


@pytest.mark.sec("SEC-04")
async def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(h: Harness) -> None:
    alice = await browser(h, "alice")
    elsewhere = await browser(h, "alice")
    wrong = await submit(
        alice, "/account/password", "/account/password", current_password="nope", new_password=OTHER_PASSWORD
    )
    assert wrong.status_code == 400 and "The current password is not correct." in wrong.text
    weak = await submit(
        alice, "/account/password", "/account/password", current_password=PASSWORD, new_password="short"
    )
    assert weak.status_code == 400 and 'role="alert"' in weak.text
    assert (await elsewhere.get("/auth/me")).status_code == 200  # nothing happened yet

    changed = await submit(
        alice,
        "/account/password",
        "/account/password",
        current_password=PASSWORD,
        new_password=OTHER_PASSWORD,
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/account/password?done=password"
    assert "ostiary_session=" in changed.headers["set-cookie"]  # a fresh session id (SEC-08)
    assert (await alice.get("/account/password?done=password")).status_code == 200
    assert (await elsewhere.get("/auth/me")).status_code == 401
    await browser(h, "alice", OTHER_PASSWORD)


# ------------------------------------------------------------------------- two-step verification


def seed_from(page: httpx.Response) -> bytes:
    found = re.search(r'<p class="secret" id="totp-secret"[^>]*>([A-Z2-7 ]+)</p>', page.text)
    assert found, page.text
    secret = found.group(1).replace(" ", "")
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def code_for(h: Harness, seed: bytes) -> str:
    return code_at(seed, step_at(h.services.clock.now()))


@pytest.mark.sec("SEC-50")
@pytest.mark.sec("SEC-14")
async def test_enroll_totp_on_the_page_then_remove_it_with_a_second_factor_login(
    h: Harness, sink: SmtpSink
) -> None:
    alice = await browser(h, "alice")
    elsewhere = await browser(h, "alice")
    started = await submit(alice, "/account/two-step", "/account/two-step/totp")
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    assert 'src="data:image/svg+xml;base64,' in started.text
    seed = seed_from(started)
    assert len(seed) == 20
    again = await alice.get("/account/two-step")  # the secret is shown once: not on the next visit
    assert 'id="totp-secret"' not in again.text and 'action="/account/two-step/totp/confirm"' in again.text

    wrong = code_at(seed, step_at(h.services.clock.now()) + 5)
    refused = await submit(alice, "/account/two-step", "/account/two-step/totp/confirm", code=wrong)
    assert refused.status_code == 400 and "The code does not match" in refused.text
    turned_on = await submit(
        alice, "/account/two-step", "/account/two-step/totp/confirm", code=code_for(h, seed)
    )
    assert turned_on.status_code == 200 and turned_on.headers["cache-control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", turned_on.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await elsewhere.get("/auth/me")).status_code == 401  # opened without the new factor
    assert "10 recovery codes left" in (await alice.get("/account")).text
    assert await mails_to(h, sink, "alice@example.org", 1) == ["Your two-step verification settings changed"]

    # This session used only the password: it may not take the factor away, nor renew the codes.
    for action in ("/account/two-step/totp/disable", "/account/two-step/recovery-codes"):
        denied = await submit(alice, "/account/two-step", action)
        assert (
            denied.status_code == 401 and 'href="/login?next=/account/two-step&amp;reauth=1"' in denied.text
        )
    # Signed in again with password + code, both work.
    clock_of(h).advance(PERIOD)
    second = h.client()
    first = await second.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    done = await second.post(
        "/auth/login/mfa", json={"mfa_token": first.json()["mfa_token"], "code": code_for(h, seed)}
    )
    assert done.status_code == 200 and done.json()["user"]["amr"] == ["pwd", "otp"]
    renewed = await submit(second, "/account/two-step", "/account/two-step/recovery-codes")
    new_codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", renewed.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    removed = await submit(second, "/account/two-step", "/account/two-step/totp/disable")
    assert removed.status_code == 303 and removed.headers["location"] == "/account/two-step?done=totp_off"
    assert (await second.get("/auth/me")).json()["mfa_enabled"] is False
    subjects = await mails_to(h, sink, "alice@example.org", 3)
    assert subjects == ["Your two-step verification settings changed"] * 3
    texts = [m.text for m in sink.to("alice@example.org")]
    assert "New recovery codes were made" in texts[1] and "authenticator app (TOTP) was removed" in texts[2]


# -------------------------------------------------------------------------- sessions and tokens


@pytest.mark.sec("SEC-14")
@pytest.mark.sec("SEC-56")
async def test_sessions_and_token_families_are_listed_and_revoked_only_the_callers(h: Harness) -> None:
    alice = await browser(h, "alice")
    phone = await browser(h, "alice")
    bob = await browser(h, "bob")
    pair = (await h.client().post("/auth/token", json={"username": "alice", "password": PASSWORD})).json()
    page = await alice.get("/account/sessions")
    handles = re.findall(r'name="session" value="([^"]+)"', page.text)
    families = re.findall(r'name="family" value="([^"]+)"', page.text)
    assert len(handles) == 1 and len(families) == 1 and "This browser" in page.text

    bobs_page = await bob.get("/account/profile")  # any page with a form carries the token
    for field, value in (("session", handles[0]), ("family", families[0])):
        action = "/account/sessions/revoke" if field == "session" else "/account/sessions/tokens/revoke"
        foreign = await bob.post(action, data={"csrf_token": hidden(bobs_page, "csrf_token"), field: value})
        assert foreign.status_code == 404, foreign.text  # another user's id is simply not found
    assert (await phone.get("/auth/me")).status_code == 200

    ended = await submit(alice, "/account/sessions", "/account/sessions/revoke", session=handles[0])
    assert ended.headers["location"] == "/account/sessions?done=session_revoked"
    assert (await phone.get("/auth/me")).status_code == 401
    revoked = await submit(alice, "/account/sessions", "/account/sessions/tokens/revoke", family=families[0])
    assert revoked.headers["location"] == "/account/sessions?done=family_revoked"
    refresh = await h.client().post("/auth/token/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
    assert "No app is signed in with tokens." in (await alice.get("/account/sessions")).text

    await browser(h, "alice")
    others = await submit(alice, "/account/sessions", "/account/sessions/revoke-others")
    assert others.headers["location"] == "/account/sessions?done=sessions_revoked"
    assert len(re.findall(r"<tr data-session=", (await alice.get("/account/sessions")).text)) == 1


# ---------------------------------------------------------------------------------- connected apps


@pytest.mark.sec("SEC-41")
async def test_a_connected_app_is_listed_and_its_access_revoked(h: Harness) -> None:
    web = await register_client(h)
    alice = await browser(h, "alice")
    pkce = Pkce()
    tokens = (await redeem(h, web, (await code_flow(h, alice, web, pkce))["code"], pkce)).json()
    page = await alice.get("/account/apps")
    assert '<td class="app-name">Web App</td>' in page.text and "<code>offline_access</code>" in page.text

    bob = await browser(h, "bob")
    bobs = await submit(bob, "/account/apps", "/account/apps/revoke", client_id="web-app")
    assert bobs.status_code == 404  # bob gave this app nothing; alice's consent is untouched
    revoked = await submit(alice, "/account/apps", "/account/apps/revoke", client_id="web-app")
    assert revoked.headers["location"] == "/account/apps?done=app_revoked"
    assert "No app has access to your account." in (await alice.get("/account/apps")).text
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    dead = await h.http.post("/token", data=form, auth=web.basic())
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    [event] = await audit_rows(h.services, "oauth.consent_revoked")
    assert event["client_id"] == "web-app"


# ---------------------------------------------------------------------------------------- API keys


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Harness]:
    """The demo realm and its API (/items): alice admin, bob editor, carol viewer."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    async with make_app(tmp_path, url, clock=FrozenClock(), demo_users=demo_users()) as harness:
        await realm_importer(harness.services).import_data(read_realm_file(DEMO_REALM))
        yield harness


@pytest.mark.sec("SEC-52")
@pytest.mark.sec("SEC-54")
@pytest.mark.sec("SEC-14")
async def test_create_a_scoped_api_key_use_it_then_revoke_it(demo: Harness) -> None:
    bob = await browser(demo, "bob", "purple lantern meadow")
    page = await bob.get("/account/api-keys")
    assert 'value="items:write"' in page.text and 'value="users:manage"' not in page.text  # bob's own only
    created = await submit(
        bob, "/account/api-keys", "/account/api-keys", name="reader", scope="items:read", expires_in="604800"
    )
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    key = hidden_value(created, "new-key-value")
    assert key.startswith("osk_")
    listed = await bob.get("/account/api-keys")
    assert key not in listed.text and '<td class="key-name">reader</td>' in listed.text  # shown once

    api = demo.client()
    assert (await api.get("/items", headers={"X-API-Key": key})).status_code == 200
    assert (await api.post("/items", json={"name": "x"}, headers={"X-API-Key": key})).status_code == 403
    on_account = await api.get("/account/api-keys", headers={"Authorization": f"Bearer {key}"})
    assert on_account.status_code == 403 and on_account.json()["error"] == "api_key_not_allowed"

    not_held = await submit(bob, "/account/api-keys", "/account/api-keys", name="admin", scope="users:manage")
    assert not_held.status_code == 400 and "only get permissions you hold" in not_held.text
    assert 'value="admin"' in not_held.text
    [key_id] = re.findall(r'name="key_id" value="([^"]+)"', listed.text)
    carol = await browser(demo, "carol", "silver compass orchard")
    stolen = await submit(carol, "/account/api-keys", "/account/api-keys/revoke", key_id=key_id)
    assert stolen.status_code == 404
    assert (await api.get("/items", headers={"X-API-Key": key})).status_code == 200

    clock_of(demo).advance(REAUTH_WINDOW + 1)
    late = await submit(bob, "/account/api-keys", "/account/api-keys", name="late", scope="items:read")
    assert late.status_code == 401 and "reauth=1" in late.text
    bob = await browser(demo, "bob", "purple lantern meadow")
    revoked = await submit(bob, "/account/api-keys", "/account/api-keys/revoke", key_id=key_id)
    assert revoked.headers["location"] == "/account/api-keys?done=key_revoked"
    assert (await api.get("/items", headers={"X-API-Key": key})).status_code == 401


def hidden_value(page: httpx.Response, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*value="([^"]+)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


async def test_a_bearer_token_is_sent_to_log_in_rather_than_shown_the_pages(h: Harness) -> None:
    pair = (await h.client().post("/auth/token", json={"username": "alice", "password": PASSWORD})).json()
    answer = await h.client().get("/account", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/account"


async def test_the_overview_and_the_signed_in_page_link_every_section(h: Harness) -> None:
    alice = await browser(h, "alice")
    home = await alice.get("/")
    assert 'href="/account"' in home.text
    overview = await alice.get("/account")
    for path in PAGES[1:]:
        assert f'href="{path}"' in overview.text, path


async def test_without_passkeys_or_oauth_their_sections_are_not_offered(
    tmp_path: Path, database_url: str
) -> None:
    """An IP-address issuer has no passkeys; OAuth switched off has no connected apps."""
    async with make_app(tmp_path, database_url, oauth_enabled=False) as plain:
        await add_user(plain.services, "alice")
        alice = await browser(plain, "alice")
        for path in ("/account", "/account/two-step"):
            page = await alice.get(path)
            assert page.status_code == 200, page.text
            assert 'href="/account/passkeys"' not in page.text and 'href="/account/apps"' not in page.text
            assert 'href="/account/api-keys"' in page.text
        assert (await alice.get("/account/passkeys")).status_code == 404
