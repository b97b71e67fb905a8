"""CORS on the authorization server (SEC-39, SEC-66): none on pages people navigate to, no
credentials on the protocol endpoints SPAs call, credentials only on the first-party JSON API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import Harness, make_app
from ostiary.web.middleware.cors import cors_kind
from ostiary.web.routes import oauth_authorize, oauth_device, oauth_logout, oauth_metadata, oauth_token

SPA = "https://spa.example"


@pytest.fixture
async def h(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, cors_origins=[SPA]) as harness:
        yield harness


def test_the_path_table_matches_the_routes() -> None:
    pages = [
        oauth_authorize.AUTHORIZE_PATH,
        oauth_authorize.CONTINUE_PATH,
        oauth_authorize.DECISION_PATH,
        oauth_device.VERIFICATION_PATH,
        oauth_device.DECISION_PATH,
        oauth_metadata.END_SESSION_PATH,
        oauth_logout.CONFIRM_PATH,
        "/login",
    ]
    protocol = [
        oauth_token.TOKEN_PATH,
        oauth_metadata.REVOCATION_PATH,
        oauth_metadata.INTROSPECTION_PATH,
        oauth_metadata.USERINFO_PATH,
        oauth_metadata.DEVICE_AUTHORIZATION_PATH,
        oauth_metadata.JWKS_PATH,
        "/.well-known/openid-configuration",
    ]
    assert {path: cors_kind(path) for path in pages} == dict.fromkeys(pages, "page")
    assert {path: cors_kind(path) for path in protocol} == dict.fromkeys(protocol, "protocol")
    assert cors_kind("/auth/me") == cors_kind("/devices-of-mine") == "api"


@pytest.mark.sec("SEC-39")
@pytest.mark.parametrize("path", ["/authorize", "/device", "/end_session", "/login"])
async def test_pages_get_no_cors_headers_even_for_an_allowlisted_origin(h: Harness, path: str) -> None:
    simple = await h.http.get(path, headers={"Origin": SPA})
    preflight = await h.http.options(path, headers={"Origin": SPA, "Access-Control-Request-Method": "POST"})
    for response in (simple, preflight):
        assert "access-control-allow-origin" not in response.headers, (path, response.headers)
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.sec("SEC-39")
@pytest.mark.parametrize("path", ["/token", "/userinfo", "/.well-known/openid-configuration"])
async def test_protocol_endpoints_are_readable_without_credentials(h: Harness, path: str) -> None:
    preflight = await h.http.options(
        path,
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SPA
    assert "access-control-allow-credentials" not in preflight.headers
    simple = await h.http.get(path, headers={"Origin": SPA})
    assert simple.headers["access-control-allow-origin"] == SPA
    assert "access-control-allow-credentials" not in simple.headers
    foreign = await h.http.get(path, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


@pytest.mark.sec("SEC-66")
async def test_the_first_party_api_keeps_credentialed_cors(h: Harness) -> None:
    response = await h.http.get("/healthz", headers={"Origin": SPA})
    assert response.headers["access-control-allow-origin"] == SPA
    assert response.headers["access-control-allow-credentials"] == "true"
