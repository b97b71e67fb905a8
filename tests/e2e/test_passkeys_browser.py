"""A real Chromium with a virtual authenticator (the DevTools WebAuthn domain, through Playwright's CDP
session) registers a passkey on the account page of a real `ostiary serve --demo`, signs in with it
without a password, and uses it as the second step after the password.

WebAuthn needs a secure context and a domain name as rp_id, and the rp_id is the issuer's host: the
server runs with the issuer http://localhost:<port> and the browser opens the same host.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from serving import DEMO_USERS, OSTIARY, Server, _stop, _wait_healthy

from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, CDPSession, ConsoleMessage, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@contextmanager
def serve_on_localhost(tmp_path: Path) -> Iterator[Server]:
    """`ostiary serve --demo` as tests/e2e/serving.py runs it, with a host-name issuer."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(
        OSTIARY_DATA_DIR=str(tmp_path / "ostiary-data"),
        OSTIARY_ISSUER=f"http://localhost:{port}",
        OSTIARY_ARGON2_MEMORY_KIB="8192",
        OSTIARY_ARGON2_TIME_COST="1",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(OSTIARY), "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://localhost:{port}", tmp_path / "ostiary-data", log_path, process)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)


@pytest.fixture
def localhost_server(tmp_path: Path) -> Iterator[Server]:
    with serve_on_localhost(tmp_path) as server:
        yield server


def open_browser(browser: Browser, server: Server) -> tuple[BrowserContext, Page, list[str]]:
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "favicon.ico" in (message.location or {}).get("url", ""):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return context, page, problems


def virtual_authenticator(cdp: CDPSession) -> str:
    """A platform authenticator (like a phone's or laptop's) that holds passkeys and verifies the user."""
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    authenticator_id: str = added["authenticatorId"]
    return authenticator_id


def password_login(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(DEMO_USERS[username][0])
    page.get_by_role("button", name="Log in", exact=True).click()


def log_out(page: Page, server: Server) -> None:
    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(server.base_url + "/login?logged_out=1")


def amr(page: Page) -> Any:
    return page.evaluate("fetch('/auth/me').then((r) => r.json()).then((me) => me.amr)")


@pytest.mark.sec("SEC-51")
@pytest.mark.sec("SEC-14")
def test_register_a_passkey_then_sign_in_with_it_alone_and_as_second_step(
    chromium: Browser, localhost_server: Server, artifacts_dir: Path
) -> None:
    server = localhost_server
    context, page, problems = open_browser(chromium, server)
    try:
        cdp = context.new_cdp_session(page)
        authenticator = virtual_authenticator(cdp)

        # Register on the account page, right after a password login (a recent authentication).
        password_login(page, "carol")
        page.wait_for_url(server.base_url + "/")
        page.get_by_role("link", name="Passkeys").click()
        page.wait_for_url(server.base_url + "/account/passkeys")
        page.get_by_label("Name (optional)").fill("Virtual laptop")
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_text("Passkey “Virtual laptop” added.").wait_for()
        assert page.locator("#recovery-list li").count() == 10
        assert page.locator("#passkeys-table .passkey-name").all_inner_texts() == ["Virtual laptop"]
        page.screenshot(path=str(artifacts_dir / "passkeys-account.png"), full_page=True)
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        assert len(held) == 1 and held[0]["isResidentCredential"] is True
        assert held[0]["rpId"] == "localhost"

        # Passwordless: the login page's button, the authenticator picks the discoverable passkey.
        log_out(page, server)
        assert page.get_by_role("heading", name="Sign in with a passkey").is_visible()
        page.screenshot(path=str(artifacts_dir / "passkeys-login.png"), full_page=True)
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.wait_for_url(server.base_url + "/")
        assert page.locator("#whoami").inner_text() == "carol"
        assert amr(page) == ["hwk", "user"]
        page.screenshot(path=str(artifacts_dir / "passkeys-signed-in.png"), full_page=True)
        counter = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]
        assert counter["signCount"] >= 1

        # The same passkey as the second step: the password alone no longer signs carol in.
        log_out(page, server)
        password_login(page, "carol")
        page.get_by_role("heading", name="Two-step verification").wait_for()
        use_passkey = page.get_by_role("button", name="Use a passkey")
        use_passkey.wait_for()
        assert not page.get_by_label("Code from your authenticator app").is_visible()  # no TOTP here
        page.screenshot(path=str(artifacts_dir / "passkeys-second-step.png"), full_page=True)
        use_passkey.click()
        page.wait_for_url(server.base_url + "/")
        assert page.locator("#whoami").inner_text() == "carol"
        assert amr(page) == ["pwd", "hwk", "user"]

        page.wait_for_load_state("networkidle")
        assert problems == []
    finally:
        context.close()


@pytest.mark.sec("SEC-51")
def test_a_passkey_from_another_site_does_not_sign_in(
    chromium: Browser, localhost_server: Server, artifacts_dir: Path
) -> None:
    """The authenticator holds a passkey, but not for this rp_id: the browser finds none to offer
    and the page says so instead of signing anyone in."""
    server = localhost_server
    context, page, _ = open_browser(chromium, server)
    try:
        cdp = context.new_cdp_session(page)
        authenticator = virtual_authenticator(cdp)
        cdp.send(
            "WebAuthn.addCredential",
            {
                "authenticatorId": authenticator,
                "credential": {
                    "credentialId": base64.b64encode(b"credential-of-another-site").decode(),
                    "isResidentCredential": True,
                    "rpId": "evil.example",
                    "privateKey": base64.b64encode(p256_private_key_der()).decode(),
                    "userHandle": base64.b64encode(b"someone").decode(),
                    "signCount": 0,
                },
            },
        )
        page.goto("/login")
        page.get_by_role("button", name="Sign in with a passkey").click()
        page.get_by_text("The passkey request was cancelled or timed out.").wait_for(timeout=20_000)
        page.screenshot(path=str(artifacts_dir / "passkeys-none-for-this-site.png"), full_page=True)
        assert page.url.startswith(server.base_url + "/login")
        assert "ostiary_session" not in {c["name"] for c in context.cookies()}
    finally:
        context.close()


def p256_private_key_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
