"""Helpers for the endpoint tests: clients registered in the app's own store, signed-in browsers,
the device flow's steps and tokens from the password grant.

Clients are added straight through `SqlClientStore` with the app's `ClientSecretHasher`, as an
administrator's registration stores them. Each helper returns the raw response so that tests can
check statuses and headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx

from helpers import PASSWORD, Harness
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
LOGOUT_URI = "https://app.example.com/signed-out"
ALL_SCOPES = ("openid", "profile", "email", "offline_access", "docs:read", "items:read")


@dataclass
class Registered:
    client_id: str
    secret: str | None

    def auth(self) -> dict[str, Any]:
        """How this client authenticates a form POST: Basic, or its client_id for a public client."""
        if self.secret is None:
            return {"data": {"client_id": self.client_id}}
        return {"auth": httpx.BasicAuth(self.client_id, self.secret)}


async def register_client(
    h: Harness, client_id: str, *, public: bool = False, name: str | None = None, **changes: Any
) -> Registered:
    wiring = h.services.oauth
    assert wiring is not None
    secret, digest = (None, None) if public else wiring.client_secrets.generate()
    values: dict[str, Any] = {
        "client_id": client_id,
        "name": name if name is not None else client_id.title(),
        "secret_digest": digest,
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        "redirect_uris": ("https://app.example.com/cb",),
        "grant_types": ("password", "refresh_token"),
        "scopes": ALL_SCOPES,
        "post_logout_redirect_uris": (LOGOUT_URI,),
        "created_at": h.services.clock.now(),
        **changes,
    }
    await SqlClientStore(h.services.db).add(Client(**values))
    return Registered(client_id, secret)


async def post_form(
    http: httpx.AsyncClient, path: str, client: Registered | None, form: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """A URL-encoded POST authenticated as `client` (None: no client authentication at all)."""
    auth = client.auth() if client is not None else {}
    data = {**auth.pop("data", {}), **form}
    return await http.post(path, data=data, **auth, **kwargs)


async def password_tokens(
    h: Harness, client: Registered, username: str = "alice", scope: str = "openid profile offline_access"
) -> dict[str, Any]:
    """A token response of the password grant: the quickest real way to a user's tokens."""
    form = {"grant_type": "password", "username": username, "password": PASSWORD, "scope": scope}
    answer = await post_form(h.http, "/token", client, form)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def hidden_fields(page: httpx.Response) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    return {name: unescape(value) for name, value in found}


def form_token(page: httpx.Response) -> str:
    token = hidden_fields(page).get("csrf_token")
    assert token, page.text
    return token


async def signed_in_browser(h: Harness, username: str, *, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """A browser with a session made through the login form, as a person would."""
    browser = h.client(client_ip=client_ip)
    page = await browser.get("/login")
    answer = await browser.post(
        "/auth/login", data={**hidden_fields(page), "username": username, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return browser


# ------------------------------------------------------------------------------------- device flow


async def start_device(h: Harness, client: Registered, scope: str | None = None) -> httpx.Response:
    return await post_form(h.http, "/device_authorization", client, {"scope": scope} if scope else {})


async def poll(h: Harness, client: Registered, device_code: str) -> httpx.Response:
    return await post_form(h.http, "/token", client, {"grant_type": DEVICE_GRANT, "device_code": device_code})


async def enter_code(browser: httpx.AsyncClient, user_code: str) -> httpx.Response:
    """The verification page, then its form submitted with `user_code`."""
    page = await browser.get("/device")
    assert page.status_code == 200, page.text
    return await browser.post("/device", data={"csrf_token": form_token(page), "user_code": user_code})


async def decide(browser: httpx.AsyncClient, confirmation: httpx.Response, decision: str) -> httpx.Response:
    assert confirmation.status_code == 200, confirmation.text
    assert 'action="/device/decision"' in confirmation.text
    return await browser.post("/device/decision", data={**hidden_fields(confirmation), "decision": decision})


def error_of(page: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert" id="device-error">([^<]*)</p>', page.text)
    assert found is not None, page.text
    return unescape(found.group(1))
