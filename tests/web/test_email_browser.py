"""A real Chromium resets a forgotten password and signs in by magic link against a real `ostiary
serve` process whose mail goes over SMTP to a local aiosmtpd server; the links come from that mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from authn.mail_sink import SmtpSink
from e2e.serving import Server, serve
from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ALICE = "alice@example.com"  # the demo realm's alice (src/ostiary/realm/demo.yaml)
NEW_PASSWORD = "copper rivers under winter stars"


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
    }
    with serve(tmp_path, **settings) as running:
        yield running


def new_page(browser: Browser, server: Server) -> tuple[Page, list[str]]:
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "favicon.ico" in (message.location or {}).get("url", ""):
            return  # no favicon is served; not a problem of the page
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    return page, problems


@pytest.mark.sec("SEC-06")
def test_a_user_resets_a_forgotten_password_from_the_mail(
    chromium: Browser, server: Server, sink: SmtpSink, artifacts_dir: Path
) -> None:
    page, problems = new_page(chromium, server)
    try:
        page.goto("/password-reset")
        page.get_by_label("Email address of your account").fill(ALICE)
        page.get_by_role("button", name="Send the reset link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        page.screenshot(path=str(artifacts_dir / "email-reset-sent.png"), full_page=True)
        link = sink.wait_for_sync(1, to=ALICE)[-1].link("/password-reset/confirm")
        page.goto(link)
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.screenshot(path=str(artifacts_dir / "email-reset-form.png"), full_page=True)
        page.get_by_role("button", name="Save the new password").click()
        page.get_by_role("heading", name="Password changed").wait_for()
        assert len(sink.wait_for_sync(2, to=ALICE)) == 2  # the "password changed" notice
        page.goto("/login")
        page.get_by_label("Username or email").fill("alice")
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator("#whoami").wait_for()
        assert page.locator("#whoami").inner_text() == "alice"
        assert problems == []
    finally:
        page.context.close()


def test_a_user_signs_in_with_a_magic_link_only_in_the_asking_browser(
    chromium: Browser, server: Server, sink: SmtpSink, artifacts_dir: Path
) -> None:
    page, problems = new_page(chromium, server)
    other, _ = new_page(chromium, server)
    try:
        page.goto("/magic-link")
        page.get_by_label("Email address of your account").fill(ALICE)
        page.get_by_role("button", name="Send the sign-in link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        link = sink.wait_for_sync(1, to=ALICE)[-1].link("/magic-link/confirm")
        other.goto(link)
        assert "another browser" in other.locator("#link-error").inner_text()
        other.screenshot(path=str(artifacts_dir / "email-magic-other-browser.png"), full_page=True)
        page.goto(link)
        page.screenshot(path=str(artifacts_dir / "email-magic-confirm.png"), full_page=True)
        page.get_by_role("button", name="Sign in").click()
        page.locator("#whoami").wait_for()
        assert page.locator("#whoami").inner_text() == "alice"
        assert problems == []
    finally:
        page.context.close()
        other.context.close()
