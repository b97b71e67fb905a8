"""End to end: `ostiary login` / `auth status` / `logout` (RFC 8628 device flow, RFC 7009) as real
processes against a real `ostiary serve --demo`, a signed-in user approving or denying the code with
httpx on the real verification pages, and the token then used at the example API through the SDK."""

from __future__ import annotations

import html
import json
import os
import queue
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sdk_helpers import CanaryServer, CountingClient, load_example
from serving import DEMO_USERS, OSTIARY, Server

from helpers import free_port
from ostiary.sdk import JwksCache, JwtAccessTokenVerifier

pytestmark = pytest.mark.e2e

CODE = re.compile(r"enter the code\s+([A-Z]{4}-[A-Z]{4})")


def cli_env(config_home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OSTIARY_") and k not in ("DISPLAY", "BROWSER")
    }
    env.update(XDG_CONFIG_HOME=str(config_home), COLUMNS="200", **extra)
    return env


class LoginProcess:
    """`ostiary login …` running in the background; its output read line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(OSTIARY), "login", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} in:\n{self.output}"
            try:
                self.output += self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
        return self.output

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)
        while not self.lines.empty():
            self.output += self.lines.get()
        return code


def decide(server: Server, user_code: str, username: str, decision: str) -> None:
    """A signed-in user enters the code on /device and approves or denies it."""
    with httpx.Client(base_url=server.base_url, timeout=15) as browser:
        login = browser.post("/auth/login", json={"username": username, "password": DEMO_USERS[username][0]})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        confirm = browser.post("/device", data={"user_code": user_code, "csrf_token": csrf})
        assert confirm.status_code == 200, confirm.text
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', confirm.text)}
        assert fields["user_code"] == user_code
        fields["decision"] = decision
        done = browser.post("/device/decision", data=fields)
        assert done.status_code == 200, done.text


def ostiary(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OSTIARY), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.sec("SEC-37")
async def test_login_approve_use_status_and_logout(
    issuer_server: Server, tmp_path: Path, http: CountingClient, token_for: Callable[..., str]
) -> None:
    opened = tmp_path / "opened-url"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    env = cli_env(tmp_path / "config", DISPLAY=":99", BROWSER=f"{browser} %s")

    login = LoginProcess(["--issuer", issuer_server.base_url, "--scope", "items:read"], env)
    output = login.wait_for("Waiting for approval")
    match = CODE.search(output)
    assert match, output
    user_code = match.group(1)
    complete = f"{issuer_server.base_url}/device?user_code={user_code}"
    assert f"Open {issuer_server.base_url}/device and enter the code {user_code}" in output
    assert complete in output
    decide(issuer_server, user_code, "carol", "approve")
    assert login.finish() == 0, login.output
    assert "logged in" in login.output
    assert opened.read_text() == complete  # a display was there: the browser was opened on the code

    path = tmp_path / "config" / "ostiary" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    entry = json.loads(path.read_text())["credentials"][issuer_server.base_url]
    assert (entry["client_id"], entry["scope"], entry["source"]) == (
        "ostiary-cli",
        "items:read",
        "device_code",
    )
    assert entry["expires_at"] > time.time()

    # The token the CLI got is a real access token for carol, limited to what was approved.
    verifier = JwtAccessTokenVerifier(
        issuer_server.base_url,
        issuer_server.base_url,
        JwksCache(issuer_server.base_url + "/.well-known/jwks.json", http=http),
    )
    info = await verifier.verify(entry["access_token"])
    assert (info.client_id, info.scopes) == ("ostiary-cli", {"items:read"})
    assert info.subject == (await verifier.verify(token_for("carol"))).subject
    app = load_example().create_app(issuer_server.base_url, http=http)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://items.test") as api:
        auth = {"Authorization": f"Bearer {entry['access_token']}"}
        assert (await api.get("/items", headers=auth)).status_code == 200
        assert (await api.post("/items", json={"name": "x"}, headers=auth)).status_code == 403

    status = ostiary(env, "auth", "status")
    assert status.returncode == 0
    assert issuer_server.base_url in status.stdout and "ostiary-cli" in status.stdout
    assert entry["access_token"] not in status.stdout

    logout = ostiary(env, "logout")
    assert logout.returncode == 0, logout.stdout + logout.stderr
    assert "warning" not in logout.stderr
    assert json.loads(path.read_text())["credentials"] == {}
    refresh = await http.post(
        issuer_server.base_url + "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": entry["refresh_token"],
            "client_id": "ostiary-cli",
        },
    )
    assert refresh.status_code == 400
    assert refresh.json()["error"] == "invalid_grant"  # revoked at the server, not only deleted here
    assert ostiary(env, "auth", "status").returncode == 1


@pytest.mark.sec("SEC-37")
def test_a_denied_login_stores_nothing(issuer_server: Server, tmp_path: Path) -> None:
    env = cli_env(tmp_path / "config")
    login = LoginProcess(["--issuer", issuer_server.base_url, "--no-browser"], env)
    match = CODE.search(login.wait_for("Waiting for approval"))
    assert match
    decide(issuer_server, match.group(1), "bob", "deny")
    assert login.finish() == 1
    assert "the request was denied" in login.output
    assert not (tmp_path / "config" / "ostiary" / "credentials.json").exists()


def test_issuers_that_cannot_log_anyone_in_get_clear_errors(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "config")
    unreachable = ostiary(env, "login", "--issuer", f"http://127.0.0.1:{free_port()}", "--no-browser")
    assert unreachable.returncode == 1
    assert "cannot reach http://127.0.0.1:" in unreachable.stderr
    with CanaryServer() as not_oauth:
        answer = ostiary(env, "login", "--issuer", not_oauth.url, "--no-browser")
    assert answer.returncode == 1
    assert f"{not_oauth.url} publishes no OAuth metadata" in answer.stderr
    plain_http = ostiary(env, "login", "--issuer", "http://id.example.com")
    assert plain_http.returncode == 2
    assert "https" in plain_http.stderr
    assert not (tmp_path / "config").exists()
