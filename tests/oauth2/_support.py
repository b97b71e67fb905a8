"""Real in-memory collaborators for the OAuth 2.0 core tests: a token service, clients, requests."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from ostiary.core.secrets import random_token
from ostiary.oauth2.clients import ClientSecretHasher
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.minting import GrantContext, TokenSet
from ostiary.oauth2.requests import OAuthRequest
from ostiary.storage.interfaces.oauth_clients import Client

ISSUER = "https://id.example.com"
SECRET_KEY = b"k" * 32
WEB_CB = "https://app.example.com/cb"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@dataclass
class MemoryTokenService:
    """Implements TokenMinter and GrantRevoker: opaque tokens, revocable by grant, and sticky."""

    minted: list[GrantContext] = field(default_factory=list)
    revoked_grants: list[str] = field(default_factory=list)
    _grant_of: dict[str, str] = field(default_factory=dict)
    issue_refresh_always: bool = False

    async def mint(self, ctx: GrantContext) -> TokenSet:
        await asyncio.sleep(0)  # a real minter awaits a store: let other requests interleave here
        self.minted.append(ctx)
        access = random_token(32)
        self._grant_of[access] = ctx.grant_id
        refresh = None
        if ctx.refresh_token_allowed or self.issue_refresh_always:
            refresh = random_token(32)
            self._grant_of[refresh] = ctx.grant_id
        return TokenSet(access_token=access, expires_in=600, scope=ctx.scope, refresh_token=refresh)

    async def revoke_grant(self, grant_id: str) -> None:
        self.revoked_grants.append(grant_id)

    def is_active(self, token: str) -> bool:
        grant_id = self._grant_of.get(token)
        return grant_id is not None and grant_id not in self.revoked_grants


HASHER = ClientSecretHasher(SECRET_KEY)
WEB_SECRET = "web-app-secret-" + "x" * 40
SVC_SECRET = "svc-secret-" + "y" * 40


def web_client(**changes: object) -> Client:
    base: dict[str, object] = {
        "client_id": "web-app",
        "name": "Web App",
        "secret_digest": HASHER.digest(WEB_SECRET),
        "redirect_uris": (WEB_CB,),
        "grant_types": ("authorization_code", "refresh_token"),
        "scopes": ("openid", "profile", "email", "offline_access", "items:read"),
    }
    base.update(changes)
    return Client(**base)  # type: ignore[arg-type]


def native_client(**changes: object) -> Client:
    base: dict[str, object] = {
        "client_id": "cli",
        "name": "CLI",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ("http://127.0.0.1/callback", "http://[::1]/callback"),
        "grant_types": ("authorization_code",),
        "scopes": ("openid", "items:read"),
        "application_type": "native",
    }
    base.update(changes)
    return Client(**base)  # type: ignore[arg-type]


def service_client(**changes: object) -> Client:
    base: dict[str, object] = {
        "client_id": "svc",
        "name": "Service",
        "secret_digest": HASHER.digest(SVC_SECRET),
        "grant_types": ("client_credentials",),
        "scopes": ("items:read", "items:write"),
    }
    base.update(changes)
    return Client(**base)  # type: ignore[arg-type]


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def form_request(
    params: Mapping[str, str | list[str]],
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str | list[str]] | None = None,
    method: str = "POST",
    content_type: str = "application/x-www-form-urlencoded",
) -> OAuthRequest:
    def lists(m: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
        return {k: [v] if isinstance(v, str) else list(v) for k, v in m.items()}

    all_headers = {"content-type": content_type, **{k.lower(): v for k, v in (headers or {}).items()}}
    return OAuthRequest(
        method=method,
        form=lists(params),
        query=lists(query or {}),
        headers=all_headers,
        client_ip="192.0.2.1",
    )


async def issue_code(codes: AuthorizationCodeIssuer, **changes: Any) -> str:
    """A code as `approve_authorization` would issue it for web-app, user u1, with PKCE."""
    args: dict[str, Any] = {
        "client_id": "web-app",
        "user_id": "u1",
        "redirect_uri": WEB_CB,
        "redirect_uri_provided": True,
        "scope": ("openid", "items:read"),
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "auth_time": 1_799_999_990.0,
        "amr": ("pwd",),
        "nonce": "n1",
    }
    args.update(changes)
    return (await codes.issue(**args)).code


def code_request(code: str, **changes: str | None) -> OAuthRequest:
    """A token request for web-app's code, authenticated with client_secret_basic."""
    params: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_CB,
        "code_verifier": VERIFIER,
    }
    params.update(changes)
    return form_request(
        {k: v for k, v in params.items() if v is not None},
        headers={"Authorization": basic("web-app", WEB_SECRET)},
    )
