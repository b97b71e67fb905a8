"""A browser's side of the code flow over the ASGI app: /authorize, the login form, consent, /token.

Each step returns the raw response so tests can check statuses and headers; `code_flow` runs the
whole dance for the common case. Clients are registered straight through `SqlClientStore` with the
app's own `ClientSecretHasher`, as an administrator's registration would store them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from helpers import PASSWORD, Harness
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore

REDIRECT_URI = "https://app.example.com/cb"
WEB_SCOPES = ("openid", "profile", "email", "offline_access", "docs:read", "items:read")


@dataclass
class Registered:
    client_id: str
    secret: str | None
    redirect_uri: str = REDIRECT_URI

    def basic(self) -> httpx.BasicAuth:
        assert self.secret is not None
        return httpx.BasicAuth(self.client_id, self.secret)


async def register_client(
    h: Harness,
    client_id: str = "web-app",
    *,
    public: bool = False,
    name: str = "Web App",
    **changes: Any,
) -> Registered:
    wiring = h.services.oauth
    assert wiring is not None
    secret, digest = (None, None) if public else wiring.client_secrets.generate()
    values: dict[str, Any] = {
        "client_id": client_id,
        "name": name,
        "secret_digest": digest,
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        "redirect_uris": (REDIRECT_URI,),
        "grant_types": ("authorization_code", "refresh_token"),
        "scopes": WEB_SCOPES,
        "created_at": h.services.clock.now(),
        **changes,
    }
    await SqlClientStore(h.services.db).add(Client(**values))
    return Registered(client_id, secret, values["redirect_uris"][0])


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(client: Registered, pkce: Pkce, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid profile offline_access",
        "state": "st-" + secrets.token_urlsafe(8),
        "nonce": "n-" + secrets.token_urlsafe(8),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


def query_of(url: str) -> dict[str, str]:
    """The query of a URL as single values (the server never repeats one)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    return {name: unescape(value) for name, value in found}


async def sign_in(
    browser: httpx.AsyncClient, login_redirect: httpx.Response, username: str
) -> httpx.Response:
    """Follow a 303 to the login page, submit its form, return the login's answer (a 303 to `next`)."""
    assert login_redirect.status_code == 303, login_redirect.text
    page = await browser.get(login_redirect.headers["location"])
    assert page.status_code == 200
    fields = hidden_fields(page)
    answer = await browser.post("/auth/login", data={**fields, "username": username, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return answer


async def decide(browser: httpx.AsyncClient, consent_page: httpx.Response, decision: str) -> httpx.Response:
    assert consent_page.status_code == 200, consent_page.text
    assert 'action="/authorize/decision"' in consent_page.text
    return await browser.post(
        "/authorize/decision", data={**hidden_fields(consent_page), "decision": decision}
    )


async def signed_in_browser(h: Harness, username: str) -> httpx.AsyncClient:
    """A browser with a session made through the login form (as a person would)."""
    browser = h.client()
    page = await browser.get("/login")
    answer = await browser.post(
        "/auth/login", data={**hidden_fields(page), "username": username, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return browser


async def code_flow(
    h: Harness, browser: httpx.AsyncClient, client: Registered, pkce: Pkce, **extra: str
) -> dict[str, str]:
    """From /authorize to the redirect with the code, for a browser already signed in; consents if asked."""
    params = authorize_params(client, pkce, **extra)
    answer = await browser.get("/authorize", params=params)
    if answer.status_code == 200 and 'action="/authorize/decision"' in answer.text:
        answer = await decide(browser, answer, "allow")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(client.redirect_uri + "?"), location
    result = query_of(location)
    assert result["state"] == params["state"]
    return {**result, "nonce": params.get("nonce", "")}


async def redeem(h: Harness, client: Registered, code: str, pkce: Pkce, **extra: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
    form["code_verifier"] = pkce.verifier
    form.update(extra)
    if client.secret is None:
        form["client_id"] = client.client_id
        return await h.http.post("/token", data=form)
    return await h.http.post("/token", data=form, auth=client.basic())
