"""End to end: node's `openid-client` v6 (from npm, unmodified, strict by default) as a relying party
of a real `ostiary serve`, its browser part driven by Chromium. OIDC Core §3.1 with discovery
(OIDC Discovery §4), PKCE (RFC 7636), RFC 9207 `iss`, refresh (RFC 6749 §6), introspection
(RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import json
import queue
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from oauth_e2e import RP_NODE, issuer_with_clients, result_of, sign_in
from serving import Server

from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CLIENT_ID = "node-openid-client"
CLIENT_NAME = "Node openid-client App"
CLIENT_SECRET = secrets.token_urlsafe(32)  # 256 bits, as the server requires


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    port = free_port()
    client = {
        "client_id": CLIENT_ID,
        "name": CLIENT_NAME,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "offline_access"],
    }
    with issuer_with_clients(Path(tmp_path_factory.mktemp("node-rp")), [client]) as server:
        yield server, port


class Lines:
    """The JSON lines a process prints, read by a thread (a blocking read never stalls the test)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.process, self.queue = process, queue.Queue[bytes]()
        stream = process.stdout
        threading.Thread(target=lambda: [self.queue.put(line) for line in stream], daemon=True).start()

    def next(self, timeout: float) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = json.loads(self.queue.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(
                f"rp.mjs printed nothing in {timeout}s (exit: {self.process.poll()})"
            ) from None
        return parsed


@pytest.mark.sec("SEC-27", "SEC-36", "SEC-38", "SEC-42", "SEC-43", "SEC-45")
def test_openid_client_signs_in_refreshes_introspects_and_revokes(
    chromium: Browser,
    node_binary: Path,
    issuer: tuple[Server, int],
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    server, port = issuer
    env = {
        "RP_ISSUER": server.base_url,
        "RP_CLIENT_ID": CLIENT_ID,
        "RP_CLIENT_SECRET": CLIENT_SECRET,
        "RP_PORT": str(port),
        "PATH": str(node_binary.parent),
    }
    stderr_path = tmp_path / "rp-node.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(node_binary), "rp.mjs"], cwd=RP_NODE, env=env, stdout=subprocess.PIPE, stderr=stderr
        )
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        lines = Lines(process)
        # discovery() passed: openid-client accepted the metadata (issuer = the URL it fetched, SEC-42).
        authorization_url = lines.next(30)["authorization_url"]
        page = context.new_page()
        page.goto(authorization_url)
        page.wait_for_url(server.base_url + "/login?**")
        sign_in(page, "alice")
        page.get_by_role("heading", name=f"Allow {CLIENT_NAME} to use your account?").wait_for()
        page.screenshot(path=str(artifacts_dir / "oauth-consent-openid-client.png"), full_page=True)
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"http://127.0.0.1:{port}/callback?**")
        line = lines.next(30)
        assert process.wait(timeout=15) == 0, f"{line}\n{stderr_path.read_text()}"
        assert result_of(page) == line
    finally:
        context.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    assert "error" not in line, line
    result = line["result"]
    assert result["server_metadata_issuer"] == server.base_url
    # Every check of authorizationCodeGrant passed (state, iss, PKCE, nonce, ID-token signature…).
    claims = result["id_token_claims"]
    assert claims["iss"] == server.base_url and claims["aud"] in (CLIENT_ID, [CLIENT_ID])
    assert claims["at_hash"] and isinstance(claims["auth_time"], int)
    assert set(result["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    userinfo = result["userinfo"]  # fetchUserInfo checked userinfo.sub == the ID token's sub
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["preferred_username"] == "alice" and userinfo["email"] == "alice@example.com"

    refreshed = result["refreshed"]
    assert refreshed["new_access_token"] and refreshed["new_refresh_token"]
    assert refreshed["id_token_sub"] in (None, claims["sub"])
    assert set(refreshed["scope"].split()) == set(result["scope"].split())
    active = result["introspection"]
    assert active["active"] is True
    assert active["client_id"] == CLIENT_ID and active["sub"] == claims["sub"]
    # Revoking the refresh token ended the grant, its access tokens included (SEC-36).
    assert result["introspection_after_revocation"] == {"active": False}

    # The first refresh token was rotated and its family is now revoked: the server refuses it.
    reused = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": result["rotated_refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=15,
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
