"""HTTP: the discovery documents name exactly the endpoints that are mounted (SEC-42, RFC 8414 §2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ISSUER, Harness, make_app

ENDPOINTS = {
    "device_authorization_endpoint": "/device_authorization",
    "introspection_endpoint": "/introspect",
    "revocation_endpoint": "/revoke",
    "userinfo_endpoint": "/userinfo",
    "end_session_endpoint": "/end_session",
}


@pytest.mark.sec("SEC-42")
async def test_metadata_lists_these_endpoints_and_each_answers(h: Harness) -> None:
    for document in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        answer = await h.http.get(document)
        assert answer.status_code == 200, answer.text
        meta = answer.json()
        for name, path in ENDPOINTS.items():
            assert meta[name] == ISSUER + path, name
        assert "urn:ietf:params:oauth:grant-type:device_code" in meta["grant_types_supported"]
        assert "none" not in meta["introspection_endpoint_auth_methods_supported"]
        assert "none" in meta["revocation_endpoint_auth_methods_supported"]
    # Every advertised endpoint is served: an empty request gets the endpoint's own error, not 404.
    for name, path in ENDPOINTS.items():
        method = "GET" if name in ("userinfo_endpoint", "end_session_endpoint") else "POST"
        answer = await h.http.request(method, path)
        assert answer.status_code in (200, 400, 401), (name, answer.status_code)


@pytest.mark.sec("SEC-42")
async def test_with_oauth_off_no_endpoint_is_mounted(tmp_path: Path, database_url: str) -> None:
    async with make_app(tmp_path, database_url, oauth_enabled=False) as off:
        for path in ENDPOINTS.values():
            assert (await off.http.post(path)).status_code == 404, path
        assert (await off.http.get("/device")).status_code == 404
