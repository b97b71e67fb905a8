"""RFC 6749 §3.2, §5.1–5.2: the token endpoint's steps (SEC-32, SEC-33, SEC-40, SEC-69)."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.core.errors import StoreUnavailable
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.grants import ClientCredentialsGrant
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import TokenSet
from ostiary.oauth2.requests import OAuthRequest
from ostiary.storage.memory.oauth_clients import MemoryClientStore

from .._support import HASHER, SVC_SECRET, WEB_SECRET, MemoryTokenService, basic, form_request


def svc(params: dict[str, str | list[str]], **kwargs: Any) -> OAuthRequest:
    return form_request(params, headers={"Authorization": basic("svc", SVC_SECRET)}, **kwargs)


@pytest.mark.sec("SEC-40")
@pytest.mark.rfc("RFC 6749 §5.1")
async def test_success_and_errors_are_no_store(endpoint: TokenEndpoint) -> None:
    ok = await endpoint.handle(svc({"grant_type": "client_credentials"}))
    bad = await endpoint.handle(svc({"grant_type": "nope"}))
    assert ok.status == 200 and bad.status == 400
    for resp in (ok, bad):
        assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Pragma"] == "no-cache"


@pytest.mark.sec("SEC-32")
@pytest.mark.parametrize(
    "grant_type",
    ["password", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
)
async def test_grants_the_client_is_not_registered_for_are_unauthorized_client(
    endpoint: TokenEndpoint, grant_type: str
) -> None:
    resp = await endpoint.handle(svc({"grant_type": grant_type}))
    assert resp.body["error"] == "unauthorized_client"


@pytest.mark.sec("SEC-32")
async def test_client_credentials_for_a_client_without_it_is_unauthorized_client(
    endpoint: TokenEndpoint,
) -> None:
    req = form_request(
        {"grant_type": "client_credentials"}, headers={"Authorization": basic("web-app", WEB_SECRET)}
    )
    assert (await endpoint.handle(req)).body["error"] == "unauthorized_client"


async def test_unknown_or_disabled_grant_types_are_unsupported(
    clients: MemoryClientStore, tokens: MemoryTokenService
) -> None:
    endpoint = TokenEndpoint(ClientAuthenticator(clients, HASHER), [ClientCredentialsGrant(tokens)])
    assert (await endpoint.handle(svc({"grant_type": "urn:x:bogus"}))).body[
        "error"
    ] == "unsupported_grant_type"
    req = form_request(
        {"grant_type": "authorization_code", "code": "x"},
        headers={"Authorization": basic("web-app", WEB_SECRET)},
    )
    assert (await endpoint.handle(req)).body[
        "error"
    ] == "unsupported_grant_type"  # registered for it, server has it off
    assert endpoint.grant_types_supported == ("client_credentials",)


async def test_missing_grant_type_is_invalid_request(endpoint: TokenEndpoint) -> None:
    assert (await endpoint.handle(svc({}))).body["error"] == "invalid_request"


@pytest.mark.sec("SEC-69")
@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"content_type": "application/json"},
        {"query": {"grant_type": "client_credentials"}},
        {"method": "GET"},
    ],
)
async def test_malformed_requests_are_invalid_request(
    endpoint: TokenEndpoint, request_kwargs: dict[str, object]
) -> None:
    resp = await endpoint.handle(svc({"grant_type": "client_credentials"}, **request_kwargs))
    assert (resp.status, resp.body["error"]) == (400, "invalid_request")


@pytest.mark.sec("SEC-69")
async def test_a_repeated_parameter_is_refused_before_client_authentication(endpoint: TokenEndpoint) -> None:
    req = form_request(
        {"grant_type": "client_credentials", "client_id": ["svc", "web-app"], "client_secret": SVC_SECRET}
    )
    assert (await endpoint.handle(req)).body["error"] == "invalid_request"


class _ProbeGrant:
    grant_type = "urn:example:probe"

    async def handle(self, request: TokenRequest) -> TokenSet:
        raise StoreUnavailable()


async def test_registering_a_grant_is_one_line_and_outages_are_503(
    clients: MemoryClientStore, endpoint: TokenEndpoint
) -> None:
    endpoint.register(_ProbeGrant())
    with pytest.raises(ValueError):
        endpoint.register(_ProbeGrant())
    from dataclasses import replace

    svc_client = await clients.get("svc")
    assert svc_client is not None
    await clients.update(replace(svc_client, grant_types=("urn:example:probe",)))
    resp = await endpoint.handle(svc({"grant_type": "urn:example:probe"}))
    assert (resp.status, resp.body["error"]) == (503, "temporarily_unavailable")
    assert resp.headers["Retry-After"] == "5"
