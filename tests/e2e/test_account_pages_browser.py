"""A real Chromium drives every account page of a real `ostiary serve --demo` (docs/account.md), with
mail going over SMTP to a local aiosmtpd server:

- bob signs in, visits each page (a screenshot of each goes to test-artifacts/account-*.png), turns on
  TOTP with the manual key from the page (codes computed with pyotp, as an authenticator app does),
  signs in with password + code and with a recovery code, changes his password, creates a scoped API
  key and calls the demo API with it, ends a session of another browser, and revokes an OAuth app he
  connected through the real code flow — with no console error or CSP violation on any page;
- carol resets a forgotten password from the mail the sink received, then signs in by magic link.

The issuer is http://localhost:<port> so that the passkeys page exists (browsers refuse an IP as the
WebAuthn rp_id).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest
from serving import DEMO_USERS, Server, serve

from authn.mail_sink import Received, SmtpSink
from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BOB_NEW_PASSWORD = "seven quiet herons above the dam"
CAROL = "carol@example.com"  # the demo realm's carol (src/ostiary/realm/demo.yaml)
CAROL_NEW_PASSWORD = "paper lanterns drifting past midnight"
# One browser signs the same users in many times from one address.
GENEROUS_LIMITS = {
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP": "10000/minute",
    "OSTIARY_RATE_LIMIT_LOGIN_PER_IP_USER": "10000/minute",
    "OSTIARY_RATE_LIMIT_MFA_PER_IP": "10000/minute",
}
SECTIONS = [  # (link in the account navigation, path, screenshot name)
    ("Profile", "/account/profile", "profile"),
    ("Password", "/account/password", "password"),
    ("Two-step verification", "/account/two-step", "two-step"),
    ("Passkeys", "/account/passkeys", "passkeys"),
    ("Sessions", "/account/sessions", "sessions"),
    ("Connected apps", "/account/apps", "apps"),
    ("API keys", "/account/api-keys", "api-keys"),
]


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink.start(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tmp_path: Path, sink: SmtpSink) -> Iterator[Server]:
    settings = {
        "OSTIARY_MAIL_BACKEND": "smtp",
        "OSTIARY_SMTP_HOST": "127.0.0.1",
        "OSTIARY_SMTP_PORT": str(sink.port),
        "OSTIARY_SMTP_SECURITY": "none",
        **GENEROUS_LIMITS,
    }
    with serve(tmp_path, host_name="localhost", **settings) as running:
        yield running


class Browsing:
    """A browser context whose pages report console errors and CSP violations into `problems`."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.server = server
        self.context: BrowserContext = browser.new_context(base_url=server.base_url)
        self.context.set_default_timeout(10_000)
        self.problems: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if "favicon.ico" in (message.location or {}).get("url", ""):
            return  # no favicon is served; not a problem of the page
        text = message.text
        if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"{self.page.url}: {message.type}: {text}")

    def at(self, path: str) -> None:
        self.page.wait_for_url(self.server.base_url + path)

    def password_step(self, username: str, password: str) -> None:
        self.page.goto("/login")
        self.page.get_by_label("Username or email").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in", exact=True).click()

    def log_out(self) -> None:
        self.page.goto("/account")
        self.page.get_by_role("button", name="Log out").click()
        self.at("/login?logged_out=1")

    def shot(self, artifacts: Path, name: str) -> None:
        self.page.screenshot(path=str(artifacts / f"account-{name}.png"), full_page=True)


def totp_of(page: Page) -> pyotp.TOTP:
    """What an authenticator app does with the manual key shown on the page."""
    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key  # 160 bits of base32
    return pyotp.TOTP(key)


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step: the server accepts t±1, and each step works only once."""
    return totp.at(time.time() + 30)


def mail_with(sink: SmtpSink, address: str, path: str, within: float = 15.0) -> Received:
    """The latest mail to `address` holding a link to `path` (other notices may arrive around it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = [m for m in sink.to(address) if path in m.text]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no mail to {address} with {path}: {[m.subject for m in sink.to(address)]}")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def connect_demo_spa(bob: Browsing, api: httpx.Client) -> dict[str, Any]:
    """The real authorization code flow of the demo SPA (public client, PKCE): bob allows it on the
    consent page; its loopback redirect is answered by the browser context itself."""
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    bob.context.route(
        f"{redirect}**", lambda route: route.fulfill(body="<p>callback</p>", content_type="text/html")
    )
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": "demo-spa",
        "redirect_uri": redirect,
        "scope": "openid items:read offline_access",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    bob.page.goto("/authorize?" + urlencode(query))
    bob.page.get_by_role("button", name="Allow").click()
    bob.page.wait_for_url(f"{redirect}**")
    code = parse_qs(urlsplit(bob.page.url).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "client_id": "demo-spa",
        "code_verifier": verifier,
    }
    tokens = api.post("/token", data=form)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    assert body["refresh_token"]
    return body


@pytest.mark.sec("SEC-14")
@pytest.mark.sec("SEC-41")
@pytest.mark.sec("SEC-47")
@pytest.mark.sec("SEC-50")
@pytest.mark.sec("SEC-54")
@pytest.mark.sec("SEC-67")
def test_a_user_manages_the_account_on_every_page(
    chromium: Browser, server: Server, artifacts_dir: Path
) -> None:
    bob = Browsing(chromium, server)
    other = Browsing(chromium, server)
    api = httpx.Client(base_url=server.base_url, timeout=10)
    try:
        # Every page, reached through the links a person would follow.
        bob.password_step("bob", DEMO_USERS["bob"][0])
        bob.at("/")
        bob.page.get_by_role("link", name="Account settings").click()
        bob.at("/account")
        assert bob.page.locator("#account-username").inner_text() == "bob"
        bob.shot(artifacts_dir, "overview")
        nav = bob.page.get_by_role("navigation", name="Account")
        for label, path, name in SECTIONS:
            nav.get_by_role("link", name=label, exact=True).click()
            bob.at(path)
            assert bob.page.locator('[aria-current="page"]').inner_text() == label
            bob.shot(artifacts_dir, name)

        # TOTP: the manual key from the page, the code from pyotp, the recovery codes shown once.
        nav.get_by_role("link", name="Two-step verification").click()
        bob.page.get_by_role("button", name="Set up an authenticator app").click()
        bob.page.locator("#totp-qr").wait_for()
        totp = totp_of(bob.page)
        bob.shot(artifacts_dir, "two-step-enroll")
        bob.page.get_by_label("Code from the app").fill(totp.now())
        bob.page.get_by_role("button", name="Turn on").click()
        bob.page.get_by_role("heading", name="Save your recovery codes").wait_for()
        codes = bob.page.locator("#recovery-list code").all_inner_texts()
        assert len(codes) == 10
        assert "is on" in bob.page.locator("#mfa-status").inner_text()
        bob.shot(artifacts_dir, "two-step-recovery-codes")

        # Password + code; then password + recovery code.
        bob.log_out()
        bob.password_step("bob", DEMO_USERS["bob"][0])
        bob.page.get_by_label("Code from your authenticator app").fill(next_code(totp))
        bob.page.get_by_role("button", name="Verify").click()
        bob.at("/")
        bob.log_out()
        bob.password_step("bob", DEMO_USERS["bob"][0])
        bob.page.get_by_text("Lost your phone? Use a recovery code").click()
        bob.page.get_by_label("Recovery code").fill(codes[0])
        bob.page.get_by_role("button", name="Use recovery code").click()
        bob.at("/")

        # The password, changed on its page (a login with a second factor: 8 characters are enough).
        bob.page.goto("/account/password")
        bob.page.get_by_label("Current password").fill(DEMO_USERS["bob"][0])
        bob.page.get_by_label("New password").fill(BOB_NEW_PASSWORD)
        bob.page.get_by_role("button", name="Change password").click()
        bob.at("/account/password?done=password")
        assert "Your password was changed" in bob.page.locator("#account-notice").inner_text()
        bob.shot(artifacts_dir, "password-changed")

        # A scoped API key, shown once, that the demo API accepts for reading only.
        bob.page.goto("/account/api-keys")
        bob.page.get_by_label("Name").fill("e2e reader")
        bob.page.get_by_role("checkbox", name="items:read").check()
        bob.page.get_by_role("button", name="Create key").click()
        key = bob.page.get_by_label("API key").input_value()
        assert key.startswith("osk_")
        bob.shot(artifacts_dir, "api-key-created")
        assert api.get("/items", headers={"X-API-Key": key}).status_code == 200
        assert api.post("/items", json={"name": "x"}, headers={"X-API-Key": key}).status_code == 403
        bob.page.goto("/account/api-keys")
        assert key not in bob.page.content()

        # Another browser signs in (the new password, a recovery code); bob ends that session.
        other.password_step("bob", BOB_NEW_PASSWORD)
        other.page.get_by_text("Lost your phone? Use a recovery code").click()
        other.page.get_by_label("Recovery code").fill(codes[1])
        other.page.get_by_role("button", name="Use recovery code").click()
        other.at("/")
        bob.page.goto("/account/sessions")
        rows = bob.page.locator("#sessions-table tbody tr")
        assert rows.count() == 2
        bob.shot(artifacts_dir, "sessions-two")
        bob.page.get_by_role("button", name=re.compile("^End session")).click()
        bob.at("/account/sessions?done=session_revoked")
        assert rows.count() == 1
        other.page.goto("/account")
        other.at("/login?next=/account")  # signed out there

        # A connected app: the demo SPA through the code flow, then its access revoked.
        tokens = connect_demo_spa(bob, api)
        bob.page.goto("/account/sessions")  # its refresh tokens are a sign-in of an app there
        assert "Demo SPA" in bob.page.locator("#families-table").inner_text()
        bob.shot(artifacts_dir, "sessions-app-tokens")
        bob.page.goto("/account/apps")
        assert bob.page.locator(".app-name").all_inner_texts() == ["Demo SPA"]
        bob.shot(artifacts_dir, "apps-connected")
        bob.page.get_by_role("button", name="Revoke access of Demo SPA").click()
        bob.at("/account/apps?done=app_revoked")
        assert bob.page.locator("#no-apps").is_visible()
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "demo-spa",
        }
        dead = api.post("/token", data=refresh)
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"

        bob.page.wait_for_load_state("networkidle")
        assert bob.problems == [] and other.problems == []
    finally:
        api.close()
        bob.context.close()
        other.context.close()


@pytest.mark.sec("SEC-06")
def test_a_forgotten_password_is_reset_from_the_mail_then_a_magic_link_signs_in(
    chromium: Browser, server: Server, sink: SmtpSink, artifacts_dir: Path
) -> None:
    carol = Browsing(chromium, server)
    page = carol.page
    try:
        page.goto("/login")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email address of your account").fill(CAROL)
        page.get_by_role("button", name="Send the reset link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        page.goto(mail_with(sink, CAROL, "/password-reset/confirm").link("/password-reset/confirm"))
        page.get_by_label("New password").fill(CAROL_NEW_PASSWORD)
        page.get_by_role("button", name="Save the new password").click()
        page.get_by_role("heading", name="Password changed").wait_for()
        carol.shot(artifacts_dir, "reset-done")
        carol.password_step("carol", CAROL_NEW_PASSWORD)
        carol.at("/")
        carol.log_out()

        # The magic link, asked for and opened in this same browser.
        page.get_by_role("link", name="Email me a sign-in link").click()
        page.get_by_label("Email address of your account").fill(CAROL)
        page.get_by_role("button", name="Send the sign-in link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        page.goto(mail_with(sink, CAROL, "/magic-link/confirm").link("/magic-link/confirm"))
        page.get_by_role("button", name="Sign in").click()
        carol.at("/")
        assert page.locator("#whoami").inner_text() == "carol"
        amr = page.evaluate("fetch('/auth/me').then((r) => r.json()).then((me) => me.amr)")
        assert amr == ["email"]
        carol.shot(artifacts_dir, "magic-link-signed-in")
        assert carol.problems == []
    finally:
        carol.context.close()
