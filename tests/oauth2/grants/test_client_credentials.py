"""RFC 6749 §4.4: the client credentials grant (SEC-32, SEC-34)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.minting import CLIENT_SUBJECT_PREFIX
from ostiary.oauth2.requests import OAuthRequest
from ostiary.storage.memory.oauth_clients import MemoryClientStore

from .._support import SVC_SECRET, MemoryTokenService, basic, form_request, native_client, service_client


def cc(scope: str | None = None, *, client_id: str = "svc", secret: str = SVC_SECRET) -> OAuthRequest:
    params = {"grant_type": "client_credentials"} | ({"scope": scope} if scope is not None else {})
    return form_request(params, headers={"Authorization": basic(client_id, secret)})


@pytest.mark.sec("SEC-32")
@pytest.mark.rfc("RFC 6749 §4.4.3")
async def test_no_refresh_token_and_a_client_namespaced_subject(
    endpoint: TokenEndpoint, tokens: MemoryTokenService
) -> None:
    resp = await endpoint.handle(cc("items:read"))
    assert resp.status == 200
    assert "refresh_token" not in resp.body and "id_token" not in resp.body
    assert resp.body["scope"] == "items:read"
    (ctx,) = tokens.minted
    assert ctx.subject == "client:svc" and ctx.subject.startswith(CLIENT_SUBJECT_PREFIX)
    assert ctx.user_id is None and not ctx.refresh_token_allowed


@pytest.mark.sec("SEC-32")
async def test_a_minter_that_adds_a_refresh_token_fails_closed(
    endpoint: TokenEndpoint, tokens: MemoryTokenService
) -> None:
    tokens.issue_refresh_always = True
    resp = await endpoint.handle(cc("items:read"))
    assert resp.status == 500 and "refresh_token" not in resp.body


@pytest.mark.sec("SEC-34")
@pytest.mark.rfc("RFC 6749 §3.3")
@pytest.mark.parametrize(
    "scope", ["items:read admin:all", "admin:all", "openid", "offline_access items:read", 'x"y']
)
async def test_scopes_outside_the_client_set_are_invalid_scope(
    endpoint: TokenEndpoint, tokens: MemoryTokenService, scope: str
) -> None:
    resp = await endpoint.handle(cc(scope))
    assert resp.body["error"] == "invalid_scope" and tokens.minted == []


@pytest.mark.sec("SEC-34")
async def test_without_scope_the_client_default_is_granted_and_stated(endpoint: TokenEndpoint) -> None:
    resp = await endpoint.handle(cc())
    assert resp.body["scope"] == "items:read items:write"


@pytest.mark.sec("SEC-32")
async def test_public_clients_may_not_use_it(endpoint: TokenEndpoint, clients: MemoryClientStore) -> None:
    await clients.update(replace(native_client(), grant_types=("client_credentials",)))
    req = form_request({"grant_type": "client_credentials", "client_id": "cli"})
    assert (await endpoint.handle(req)).body["error"] == "unauthorized_client"


@pytest.mark.sec("SEC-33")
async def test_a_wrong_secret_is_invalid_client(endpoint: TokenEndpoint, tokens: MemoryTokenService) -> None:
    resp = await endpoint.handle(cc(secret="wrong"))
    assert (resp.status, resp.body["error"]) == (401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert tokens.minted == []


async def test_service_client_fixture_is_confidential() -> None:
    assert service_client().is_confidential
