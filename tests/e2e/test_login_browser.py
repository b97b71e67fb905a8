"""A real Chromium logs in to a real `ostiary serve --demo` through the login page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from serving import DEMO_USERS, Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def open_login(browser: Browser, server: Server) -> tuple[Page, list[str]]:
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(8_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if "favicon.ico" in (message.location or {}).get("url", ""):
            return  # no favicon is served; not a problem of the page
        if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
            problems.append(f"{message.type}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    response = page.goto("/login")
    assert response is not None and response.status == 200
    return page, problems


@pytest.mark.sec("SEC-67")
def test_the_login_page_loads_without_console_errors_or_csp_violations(
    chromium: Browser, demo_server: Server, artifacts_dir: Path
) -> None:
    page, problems = open_login(chromium, demo_server)
    try:
        assert page.get_by_role("heading", name="Log in").is_visible()
        assert page.get_by_label("Username or email").is_visible()
        assert page.get_by_label("Password").get_attribute("type") == "password"
        assert page.get_by_text("Demo accounts").is_visible()
        page.screenshot(path=str(artifacts_dir / "login-page.png"), full_page=True)
        page.wait_for_load_state("networkidle")
        assert problems == []
    finally:
        page.context.close()


@pytest.mark.sec("SEC-09")
def test_a_demo_user_logs_in_from_the_browser(
    chromium: Browser, demo_server: Server, artifacts_dir: Path
) -> None:
    page, problems = open_login(chromium, demo_server)
    try:
        password, role = DEMO_USERS["bob"]
        page.get_by_label("Username or email").fill("bob")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(demo_server.base_url + "/")
        assert page.locator("#whoami").inner_text() == "bob"
        assert role in page.locator("#roles").inner_text()
        page.screenshot(path=str(artifacts_dir / "signed-in.png"), full_page=True)
        cookies = {c["name"]: c for c in page.context.cookies()}
        session = cookies["ostiary_session"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Lax"
        assert page.evaluate("document.cookie").find("ostiary_session") == -1  # not readable by scripts

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login?logged_out=1")
        assert page.get_by_text("You are logged out.").is_visible()
        page.goto("/")
        page.wait_for_url("**/login")
        assert problems == []
    finally:
        page.context.close()


@pytest.mark.sec("SEC-64")
def test_a_wrong_password_shows_the_generic_error(
    chromium: Browser, demo_server: Server, artifacts_dir: Path
) -> None:
    page, problems = open_login(chromium, demo_server)
    try:
        messages = []
        for username in ("alice", "nobody-here"):
            page.get_by_label("Username or email").fill(username)
            page.get_by_label("Password").fill("definitely not the password")
            page.get_by_role("button", name="Log in").click()
            error = page.locator("#login-error")
            error.wait_for()
            messages.append(error.inner_text())
            assert page.get_by_label("Password").input_value() == ""  # never echoed back
        page.screenshot(path=str(artifacts_dir / "login-wrong-password.png"), full_page=True)
        assert messages[0] == messages[1] == "Invalid username or password."
        assert "ostiary_session" not in {c["name"] for c in page.context.cookies()}
        # The re-rendered login page is answered with 401 on purpose; Chromium logs that status.
        assert [p for p in problems if "status of 401" not in p] == []
    finally:
        page.context.close()
