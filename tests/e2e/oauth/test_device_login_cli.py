"""End to end: `ostiary login` (the device flow's CLI, RFC 8628 §3) as a real process against a real
`ostiary serve --demo`, the user approving or denying its code in Chromium at /device."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import httpx
import pytest
from oauth_e2e import GENEROUS_LIMITS, sign_in
from serving import OSTIARY, Server, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PROMPT = re.compile(r"Open\s+(?P<uri>http\S+)\s+and\s+enter\s+the\s+code\s+(?P<code>[A-Z0-9-]{8,})")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(Path(tmp_path_factory.mktemp("device")), **GENEROUS_LIMITS) as running:
        yield running


class Login:
    """A running `ostiary login --no-browser`, its output collected by a thread."""

    def __init__(self, server: Server, config_home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
        env.update(XDG_CONFIG_HOME=str(config_home), COLUMNS="200", NO_COLOR="1")
        argv = [str(OSTIARY), "login", "--issuer", server.base_url, "--no-browser"]
        argv += ["--scope", "openid profile email items:read"]
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output = ""
        self._seen = threading.Condition()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            with self._seen:
                self.output += line.decode(errors="replace")
                self._seen.notify_all()

    def prompt(self, timeout: float = 60) -> tuple[str, str]:
        """The verification URI and user code the CLI shows (§3.3)."""
        with self._seen:
            found = self._seen.wait_for(lambda: PROMPT.search(self.output) or self.process.poll(), timeout)
        match = PROMPT.search(self.output)
        assert found and match, f"no code shown:\n{self.output}"
        return match["uri"], match["code"]

    def finish(self, timeout: float = 90) -> int:
        """The exit status; the CLI polls every `interval` (5 s) seconds, so this takes a while."""
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def enter_code(page: Page, server: Server, uri: str, code: str, username: str) -> None:
    """At the verification URI: sign in, type the code into `user_code`, Continue."""
    page.goto(uri)
    page.wait_for_url(server.base_url + "/login?**")
    sign_in(page, username)
    page.wait_for_url(server.base_url + "/device**")
    page.locator("input[name=user_code]").fill(code)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Connect ostiary CLI to your account?").wait_for()
    assert page.locator("#user-code").inner_text() == code  # the code to compare with the device (§5.4)


@pytest.mark.sec("SEC-37")
def test_ostiary_login_is_approved_in_the_browser_and_stores_a_working_token(
    chromium: Browser, server: Server, tmp_path: Path, artifacts_dir: Path
) -> None:
    login = Login(server, tmp_path / "config")
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        uri, code = login.prompt()
        assert uri == server.base_url + "/device"
        page = context.new_page()
        enter_code(page, server, uri, code, "alice")
        page.screenshot(path=str(artifacts_dir / "oauth-device-confirm.png"), full_page=True)
        page.get_by_role("button", name="Approve").click()
        assert page.locator("#device-done").inner_text() == "Device connected"
        assert login.finish() == 0, login.output
    finally:
        context.close()
        login.stop()
    assert "logged in" in login.output

    path = tmp_path / "config" / "ostiary" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = json.loads(path.read_text())["credentials"][server.base_url]
    assert entry["client_id"] == "ostiary-cli" and entry["source"] == "device_code"
    assert set(entry["scope"].split()) == {"openid", "profile", "email", "items:read"}
    userinfo = httpx.get(
        server.base_url + "/userinfo",
        headers={"Authorization": f"Bearer {entry['access_token']}"},
        timeout=15,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["preferred_username"] == "alice"


@pytest.mark.sec("SEC-37")
def test_a_denied_code_ends_ostiary_login_with_an_error_and_stores_nothing(
    chromium: Browser, server: Server, tmp_path: Path
) -> None:
    login = Login(server, tmp_path / "config")
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        uri, code = login.prompt()
        page = context.new_page()
        enter_code(page, server, uri, code, "bob")
        page.get_by_role("button", name="Deny").click()
        assert page.locator("#device-done").inner_text() == "Request denied"
        assert login.finish() == 1, login.output
    finally:
        context.close()
        login.stop()
    assert "the request was denied" in login.output
    assert not (tmp_path / "config" / "ostiary" / "credentials.json").exists()
