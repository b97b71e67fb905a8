"""A real Chromium on the device-verification and logout-confirmation pages (SEC-37, SEC-46, SEC-13).

The app runs in this test's event loop under uvicorn on a loopback port (the issuer is that URL,
so the Origin checks see what production sees); Chromium is driven with Playwright's async API.
Browsers send `Origin: null` on our no-referrer pages and apply the page CSP's `form-action` to the
redirect that follows a form, so only a real browser shows that these pages work end to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from endpoints_support import LOGOUT_URI, poll, register_client, start_device

from helpers import PASSWORD, Harness, add_user, free_port, make_app

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage, Page

pytestmark = [pytest.mark.browser]
CHROMIUM_PATH = "/usr/bin/chromium"  # as tests/conftest.py: the system Chromium, never a download
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@asynccontextmanager
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    port = free_port()
    async with make_app(tmp_path, database_url, issuer=f"http://127.0.0.1:{port}") as h:
        config = uvicorn.Config(h.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # uvicorn offers a flag, not an event
            if task.done():
                raise AssertionError(f"uvicorn did not start: {task.exception()!r}")
            await asyncio.sleep(0.02)
        try:
            yield h
        finally:
            server.should_exit = True
            await task


def chromium_path() -> str:
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"{CHROMIUM_PATH} not found; install it with scripts/test (apt package chromium)")
    return CHROMIUM_PATH


@asynccontextmanager
async def browser_page(base_url: str) -> AsyncIterator[tuple[Page, list[str]]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(base_url=base_url)
            context.set_default_timeout(10_000)
            page = await context.new_page()
            problems: list[str] = []

            def on_console(message: ConsoleMessage) -> None:
                if "favicon.ico" in (message.location or {}).get("url", ""):
                    return  # no favicon is served; not a problem of the page
                if message.type == "error" or "Refused" in message.text:
                    problems.append(f"{message.type}: {message.text}")

            page.on("console", on_console)
            yield page, problems
        finally:
            await browser.close()


async def sign_in(page: Page, username: str) -> None:
    await page.get_by_label("Username or email").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()


@pytest.mark.sec("SEC-37")
@pytest.mark.sec("SEC-46")
async def test_device_approval_and_logout_confirmation_in_chromium(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    async with served(tmp_path, database_url) as h, browser_page(h.base_url) as (page, problems):
        await add_user(h.services, "alice", roles=["viewer"])
        cli = await register_client(
            h,
            "cli",
            public=True,
            name="Ostiary CLI",
            grant_types=("urn:ietf:params:oauth:grant-type:device_code",),
        )
        started = (await start_device(h, cli, "openid docs:read")).json()

        # verification_uri_complete → login → back to the prefilled form → confirm → approve.
        await page.goto(started["verification_uri_complete"])
        await sign_in(page, "alice")
        await page.wait_for_url("**/device?user_code=*")
        assert await page.get_by_label("Code").input_value() == started["user_code"]
        await page.get_by_role("button", name="Continue").click()
        await page.get_by_role("heading", name="Connect Ostiary CLI to your account?").wait_for()
        assert await page.locator("#user-code").inner_text() == started["user_code"]
        await page.get_by_role("button", name="Approve").click()
        await page.get_by_role("heading", name="Device connected").wait_for()
        tokens = await poll(h, cli, started["device_code"])
        assert tokens.status_code == 200, tokens.text
        assert tokens.json()["scope"] == "openid docs:read"

        # RP-initiated logout without a hint: a confirmation page, then the 303 to the client.
        await register_client(h, "app")
        await page.route(
            "https://app.example.com/**", lambda route: route.fulfill(body="signed out at the app")
        )
        await page.goto(f"/end_session?client_id=app&post_logout_redirect_uri={LOGOUT_URI}&state=abc")
        await page.get_by_role("heading", name="Sign out?").wait_for()
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{LOGOUT_URI}?state=abc")
        await page.goto("/")
        await page.wait_for_url("**/login")
        assert problems == []
