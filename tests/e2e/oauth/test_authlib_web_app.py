"""End to end: a third-party web app (Authlib's Starlette client, unmodified, its own process) signs
users in through a real `ostiary serve`, driven by a real Chromium. OIDC Core §3.1 (code flow),
RFC 7636 (PKCE), RFC 9207 (`iss`), OIDC Core §3.1.2.6 (errors, prompt=none), consent (SEC-41)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from oauth_e2e import (
    Helper,
    issuer_with_clients,
    python_helper,
    query_of,
    result_of,
    sign_in,
    wait_until_serving,
)
from serving import Server

from helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CLIENT_ID = "authlib-web"
CLIENT_NAME = "Authlib Web App"
CLIENT_SECRET = secrets.token_urlsafe(32)  # 256 bits, as the server requires


@dataclass
class RelyingParty:
    server: Server
    url: str
    process: Helper


@pytest.fixture(scope="module")
def rp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelyingParty]:
    tmp = Path(tmp_path_factory.mktemp("authlib-web"))
    port = free_port()
    client = {
        "client_id": CLIENT_ID,
        "name": CLIENT_NAME,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "offline_access"],
    }
    with issuer_with_clients(tmp, [client]) as server:
        env = {
            "RP_ISSUER": server.base_url,
            "RP_PORT": str(port),
            "RP_CLIENT_ID": CLIENT_ID,
            "RP_CLIENT_SECRET": CLIENT_SECRET,
        }
        with python_helper("authlib_rp.py", tmp / "rp.log", **env) as process:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(url + "/", process)
            yield RelyingParty(server, url, process)


def new_page(browser: Browser) -> Page:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    return context.new_page()


def authorization_requests(page: Page, server: Server) -> list[dict[str, str]]:
    """The query of every /authorize request the browser makes (what Authlib sent)."""
    seen: list[dict[str, str]] = []
    page.on(
        "request",
        lambda r: seen.append(query_of(r.url)) if r.url.startswith(server.base_url + "/authorize?") else None,
    )
    return seen


@pytest.mark.sec("SEC-27", "SEC-38", "SEC-41", "SEC-43", "SEC-45")
def test_sign_in_consent_then_a_second_sign_in_skips_consent(
    chromium: Browser, rp: RelyingParty, artifacts_dir: Path
) -> None:
    page = new_page(chromium)
    try:
        sent = authorization_requests(page, rp.server)
        page.goto(rp.url + "/login")
        page.wait_for_url(rp.server.base_url + "/login?**")
        sign_in(page, "alice")

        # The consent page names the client and the scopes in words (SEC-41).
        page.get_by_role("heading", name=f"Allow {CLIENT_NAME} to use your account?").wait_for()
        scopes = page.locator("#scopes").inner_text()
        assert "email" in scopes.lower() and "profile" in scopes.lower()
        page.screenshot(path=str(artifacts_dir / "oauth-consent-authlib.png"), full_page=True)
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(rp.url + "/callback?**")
        first = result_of(page)
        page.screenshot(path=str(artifacts_dir / "oauth-authlib-signed-in.png"), full_page=True)

        # What Authlib sent: PKCE S256, state and nonce (and nothing weaker was accepted).
        assert len(sent) == 1
        request = sent[0]
        assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43
        assert request["state"] and request["nonce"] and request["response_type"] == "code"

        assert first["iss"] == rp.server.base_url  # RFC 9207 (SEC-38)
        assert first["state_matches"] is True
        claims = first["id_token_claims"]  # signature, iss, aud, exp, nonce, at_hash checked by Authlib
        assert claims["iss"] == rp.server.base_url
        assert claims["aud"] in (CLIENT_ID, [CLIENT_ID])
        assert claims["nonce"] == request["nonce"]
        assert claims["at_hash"] and claims["sid"] and "pwd" in claims["amr"]
        assert isinstance(claims["auth_time"], int) and claims["exp"] > claims["iat"]
        # With an access token issued, the profile and email claims come from UserInfo (OIDC Core
        # §5.4), whose `sub` must be the ID token's (§5.3.2, SEC-45).
        userinfo = first["userinfo"]
        assert userinfo["sub"] == claims["sub"]
        assert userinfo["preferred_username"] == "alice"
        assert userinfo["email"] == "alice@example.com"
        assert set(first["scope"].split()) == {"openid", "profile", "email"}

        # Consent is remembered: the next sign-in goes straight back, no login and no consent page.
        answers: list[Response] = []
        page.on("response", lambda r: answers.append(r) if r.url.startswith(rp.server.base_url) else None)
        page.goto(rp.url + "/login")
        page.wait_for_url(rp.url + "/callback?**")
        assert [(a.url.split("?")[0], a.status) for a in answers] == [
            (rp.server.base_url + "/authorize", 303)
        ]
        second = result_of(page)
        assert second["state_matches"] is True
        assert second["id_token_claims"]["sub"] == claims["sub"]  # stable subject (SEC-43)
        assert second["id_token_claims"]["nonce"] == sent[1]["nonce"] != request["nonce"]
    finally:
        page.context.close()


@pytest.mark.sec("SEC-26", "SEC-38", "SEC-41")
def test_deny_returns_access_denied_with_the_state(
    chromium: Browser, rp: RelyingParty, artifacts_dir: Path
) -> None:
    page = new_page(chromium)
    try:
        page.goto(rp.url + "/login")
        page.wait_for_url(rp.server.base_url + "/login?**")
        sign_in(page, "bob")
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(rp.url + "/callback?**")
        page.screenshot(path=str(artifacts_dir / "oauth-authlib-denied.png"), full_page=True)
        denied = result_of(page)
        assert denied["error"] == "access_denied"
        assert denied["state_matches"] is True
        assert denied["iss"] == rp.server.base_url
        # Nothing was remembered: the next attempt asks again.
        page.goto(rp.url + "/login")
        page.get_by_role("heading", name=f"Allow {CLIENT_NAME} to use your account?").wait_for()
    finally:
        page.context.close()


@pytest.mark.sec("SEC-41", "SEC-44")
def test_prompt_none_never_shows_a_page_and_never_grants_silently(
    chromium: Browser, rp: RelyingParty
) -> None:
    page = new_page(chromium)
    try:
        # No session: login_required, straight back to the app (OIDC Core §3.1.2.6).
        page.goto(rp.url + "/login?prompt=none")
        page.wait_for_url(rp.url + "/callback?**")
        assert result_of(page)["error"] == "login_required"
        assert result_of(page)["state_matches"] is True

        # Signed in at ostiary, but carol never consented to this app: consent_required.
        page.goto(rp.server.base_url + "/login")
        sign_in(page, "carol")
        page.wait_for_url(rp.server.base_url + "/")
        page.goto(rp.url + "/login?prompt=none")
        page.wait_for_url(rp.url + "/callback?**")
        assert result_of(page)["error"] == "consent_required"

        # After consent, prompt=none signs her in without any page.
        page.goto(rp.url + "/login")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(rp.url + "/callback?**")
        page.goto(rp.url + "/login?prompt=none")
        page.wait_for_url(rp.url + "/callback?**")
        silent = result_of(page)
        assert "error" not in silent, silent
        assert silent["userinfo"]["preferred_username"] == "carol"
    finally:
        page.context.close()


@pytest.mark.sec("SEC-27", "SEC-38")
def test_the_server_refuses_this_client_without_pkce_or_with_plain(rp: RelyingParty) -> None:
    """What Authlib could not be made to send: the request without S256 PKCE, answered at the
    app's (validated) redirect URI with invalid_request and `iss`."""
    base = {
        "client_id": CLIENT_ID,
        "redirect_uri": rp.url + "/callback",
        "response_type": "code",
        "scope": "openid",
        "state": "s-123",
    }
    for extra in ({}, {"code_challenge": "a" * 43, "code_challenge_method": "plain"}):
        answer = httpx.get(rp.server.base_url + "/authorize", params={**base, **extra}, timeout=15)
        assert answer.status_code in (302, 303), answer.text
        location = answer.headers["location"]
        assert location.startswith(rp.url + "/callback?")
        query = query_of(location)
        assert query["error"] == "invalid_request"
        assert query["state"] == "s-123"
        assert query["iss"] == rp.server.base_url
