"""HTTP: discovery metadata lists what is mounted and nothing else (SEC-38, SEC-42, RFC 8414 §3)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from helpers import ISSUER, Harness, make_app
from ostiary.web.policy_marks import endpoint_routes
from ostiary.web.routes.oauth_metadata import (
    DEVICE_AUTHORIZATION_PATH,
    END_SESSION_PATH,
    INTROSPECTION_PATH,
    REVOCATION_PATH,
    USERINFO_PATH,
)

OPTIONAL = {
    "userinfo_endpoint": USERINFO_PATH,
    "introspection_endpoint": INTROSPECTION_PATH,
    "revocation_endpoint": REVOCATION_PATH,
    "end_session_endpoint": END_SESSION_PATH,
    "device_authorization_endpoint": DEVICE_AUTHORIZATION_PATH,
}


def mounted(h: Harness) -> set[str]:
    return {r.path for r in endpoint_routes(h.app.api.routes)}


@pytest.mark.sec("SEC-38")
@pytest.mark.sec("SEC-42")
async def test_metadata_describes_exactly_what_is_mounted(h: Harness) -> None:
    oidc = await h.http.get("/.well-known/openid-configuration")
    oauth = await h.http.get("/.well-known/oauth-authorization-server")
    assert oidc.status_code == oauth.status_code == 200
    meta = oidc.json()
    assert meta == oauth.json()
    assert meta["issuer"] == ISSUER  # the URL prefix exactly, no trailing slash
    assert meta["authorization_endpoint"] == ISSUER + "/authorize"
    assert meta["token_endpoint"] == ISSUER + "/token"
    assert meta["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    paths = mounted(h)
    for name, value in meta.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            assert value.startswith(ISSUER + "/")
            assert urlsplit(value).path in paths, name
    for name, path in OPTIONAL.items():
        assert (name in meta) == (path in paths), name

    assert meta["response_types_supported"] == ["code"]  # no token-bearing type (SEC-31)
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert h.services.oauth is not None
    assert meta["grant_types_supported"] == list(h.services.oauth.token_endpoint.grant_types_supported)
    assert "authorization_code" in meta["grant_types_supported"]
    device = "urn:ietf:params:oauth:grant-type:device_code"
    assert (device in meta["grant_types_supported"]) == (DEVICE_AUTHORIZATION_PATH in paths)
    assert "openid" in meta["scopes_supported"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert meta["request_uri_parameter_supported"] is False

    jwks = (await h.http.get("/.well-known/jwks.json")).json()
    assert "RS256" in {key["alg"] for key in jwks["keys"]}


@pytest.mark.sec("SEC-42")
async def test_oauth_switched_off_mounts_nothing(tmp_path: Path, database_url: str) -> None:
    async with make_app(tmp_path, database_url, oauth_enabled=False) as h:
        assert h.services.oauth is None
        for method, path in [
            ("GET", "/authorize"),
            ("POST", "/token"),
            ("GET", "/.well-known/openid-configuration"),
            ("GET", "/.well-known/oauth-authorization-server"),
            ("GET", "/authorize/continue"),
            ("GET", "/auth/consents"),
        ]:
            assert (await h.http.request(method, path)).status_code == 404, path
        assert (await h.http.get("/.well-known/jwks.json")).status_code == 200
