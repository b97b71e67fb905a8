"""End to end: a single-page app — the demo realm's public client `demo-spa` — signs in from Chromium
with oauth4webapi (npm, unmodified): authorization code + PKCE with no secret (RFC 7636, OAuth 2.1
§7.1), a loopback redirect on a port never registered (RFC 8252 §7.3), the token exchange and refresh
as cross-origin fetches from the page, and refresh-token rotation with reuse detection (SEC-35)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from oauth_e2e import GENEROUS_LIMITS, HERE, RP_NODE, result_of, sign_in
from serving import Server, serve

from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CLIENT_ID = "demo-spa"


def spa_files() -> dict[str, tuple[Path, str]]:
    page = (HERE / "spa" / "index.html", "text/html; charset=utf-8")
    return {
        "/": page,
        "/callback": page,
        "/spa.mjs": (HERE / "spa" / "spa.mjs", "text/javascript"),
        "/vendor/oauth4webapi.js": (RP_NODE / "node_modules" / "oauth4webapi" / "build" / "index.js", "text/javascript"),
    }  # fmt: skip


class SpaHandler(BaseHTTPRequestHandler):
    """Serves the SPA's static files, as a static host or a dev server would; nothing else."""

    files = spa_files()

    def do_GET(self) -> None:
        found = self.files.get(urlsplit(self.path).path)
        if found is None:
            self.send_error(404)
            return
        body = found[0].read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", found[1])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


@pytest.fixture(scope="module")
def spa_origin(node_binary: Path) -> Iterator[str]:
    """The SPA on a loopback port picked now (node_binary: oauth4webapi is installed)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), SpaHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(spa_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The SPA calls /token and /userinfo from its own origin: it is on the CORS allowlist.
    env = {**GENEROUS_LIMITS, "OSTIARY_CORS_ORIGINS": spa_origin}
    with serve(Path(tmp_path_factory.mktemp("spa")), **env) as running:
        yield running


@dataclass
class SpaRun:
    result: dict[str, Any]
    console_errors: list[str]


@pytest.fixture(scope="module")
def spa_run(chromium: Browser, server: Server, spa_origin: str, artifacts_dir: Path) -> SpaRun:
    """bob signs in to the SPA in Chromium once; the SPA then refreshes and replays (spa.mjs)."""
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon.ico" not in (message.location or {}).get("url", ""):
            problems.append(f"{message.text} ({(message.location or {}).get('url')})")

    try:
        page = context.new_page()
        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
        page.goto(f"{spa_origin}/?{urlencode({'issuer': server.base_url})}")
        page.wait_for_url(server.base_url + "/login?**")
        sign_in(page, "bob")
        page.get_by_role("heading", name="Allow Demo SPA to use your account?").wait_for()
        page.screenshot(path=str(artifacts_dir / "oauth-consent-spa.png"), full_page=True)
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(spa_origin + "/callback?**")
        page.wait_for_function("document.getElementById('status').textContent !== 'starting…'")
        page.screenshot(path=str(artifacts_dir / "oauth-spa-signed-in.png"), full_page=True)
        return SpaRun(result_of(page), problems)
    finally:
        context.close()


@pytest.mark.sec("SEC-27", "SEC-38", "SEC-43", "SEC-45")
def test_the_spa_signs_in_from_the_browser_without_a_secret(
    spa_run: SpaRun, server: Server, spa_origin: str
) -> None:
    result = spa_run.result
    assert "error" not in result, result
    assert result["origin"] == spa_origin
    claims = result["id_token_claims"]  # oauth4webapi checked iss, aud, exp, iat and the nonce
    assert claims["iss"] == server.base_url and claims["aud"] in (CLIENT_ID, [CLIENT_ID])
    assert result["userinfo"]["sub"] == claims["sub"]
    assert result["userinfo"]["preferred_username"] == "bob"
    assert set(result["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    # Chromium logs the two refused refreshes; nothing else failed (no CORS refusal, no script error).
    refused = f"Failed to load resource: the server responded with a status of 400 (Bad Request) ({server.base_url}/token)"
    assert spa_run.console_errors == [refused, refused]


@pytest.mark.sec("SEC-35")
def test_refresh_tokens_rotate_and_a_reused_one_ends_the_family(spa_run: SpaRun, server: Server) -> None:
    result = spa_run.result
    assert result["rotated"] is True
    assert set(result["refreshed_scope"].split()) == set(result["scope"].split())
    # The first refresh token, presented after its successor was used, is reuse: refused, and the
    # newest token of its family with it.
    assert result["reuse_of_the_first_refresh_token"] == "invalid_grant"
    assert result["newest_refresh_token_after_reuse"] == "invalid_grant"
    form = {
        "grant_type": "refresh_token",
        "refresh_token": result["first_refresh_token"],
        "client_id": CLIENT_ID,
    }
    reused = httpx.post(server.base_url + "/token", data=form, timeout=15)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


@pytest.mark.sec("SEC-35")
def test_the_access_tokens_of_a_family_ended_by_reuse_are_refused(spa_run: SpaRun, server: Server) -> None:
    assert spa_run.result["newest_refresh_token_after_reuse"] == "invalid_grant"  # the family is over
    bearer = {"Authorization": f"Bearer {spa_run.result['newest_access_token']}"}
    userinfo = httpx.get(server.base_url + "/userinfo", headers=bearer, timeout=15)
    assert userinfo.status_code == 401, userinfo.text
    assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]


@pytest.mark.sec("SEC-24", "SEC-25")
def test_any_loopback_port_but_only_the_registered_host_and_path(server: Server, spa_origin: str) -> None:
    """RFC 8252 §7.3 lets the port vary for a native-registered client; nothing else varies."""
    port = urlsplit(spa_origin).port
    base = {"client_id": CLIENT_ID, "response_type": "code", "scope": "openid", "state": "s-1",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}  # fmt: skip
    for redirect_uri in (
        f"http://127.0.0.1:{port}/other",
        f"http://127.0.0.1:{port}/callback/",
        f"http://localhost:{port}/callback",
        f"http://127.0.0.2:{port}/callback",
    ):
        answer = httpx.get(
            server.base_url + "/authorize", params={**base, "redirect_uri": redirect_uri}, timeout=15
        )
        assert answer.status_code == 400, (redirect_uri, answer.status_code)
        assert "location" not in answer.headers  # an error page, never a redirect (SEC-24)
    # A registered path on any port is accepted: to the login page first (no session here).
    accepted = httpx.get(
        server.base_url + "/authorize", params={**base, "redirect_uri": spa_origin + "/callback"}, timeout=15
    )
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/login?")
