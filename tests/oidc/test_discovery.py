"""RFC 8414 §2 / OIDC Discovery §3: metadata derived from what is enabled (SEC-27, SEC-38, SEC-42)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from oauth2._support import HASHER
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.endpoints.token import TokenEndpoint
from ostiary.oauth2.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from ostiary.oidc.discovery import DEVICE_CODE_GRANT, ProviderFeatures, build_metadata
from ostiary.storage.memory.oauth_clients import MemoryClientStore

ISSUER = "https://id.example.com"
TOKEN_BEARING = {"token", "id_token", "id_token token", "code token", "code id_token", "code id_token token"}


def token_endpoint(*, code: bool) -> TokenEndpoint:
    """A real endpoint, so the advertised grant types are what it actually registered."""
    unused: object = None  # the grants are never called here
    endpoint = TokenEndpoint(ClientAuthenticator(MemoryClientStore(), HASHER))
    endpoint.register(ClientCredentialsGrant(unused))  # type: ignore[arg-type]
    if code:
        endpoint.register(AuthorizationCodeGrant(unused, unused, unused, unused))  # type: ignore[arg-type]
    return endpoint


def full() -> ProviderFeatures:
    return ProviderFeatures(
        issuer=ISSUER,
        grant_types=(*token_endpoint(code=True).grant_types_supported, DEVICE_CODE_GRANT),
        scopes=("openid", "profile", "email", "offline_access", "items:read"),
        authorization_path="/oauth2/authorize",
        userinfo_path="/oauth2/userinfo",
        introspection_path="/oauth2/introspect",
        revocation_path="/oauth2/revoke",
        end_session_path="/oauth2/end_session",
        device_authorization_path="/oauth2/device",
    )


ENDPOINT_MEMBERS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "introspection_endpoint",
    "revocation_endpoint",
    "end_session_endpoint",
    "device_authorization_endpoint",
)


@pytest.mark.sec("SEC-42")
@pytest.mark.rfc("OIDC Discovery §3")
def test_openid_configuration_of_a_full_provider() -> None:
    meta = build_metadata(full())
    assert meta["issuer"] == ISSUER
    for member in ENDPOINT_MEMBERS:
        url = urlsplit(meta[member])
        assert url.scheme == "https" and meta[member].startswith(ISSUER + "/"), member
    assert meta["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert meta["response_types_supported"] == ["code"]
    assert not TOKEN_BEARING & set(meta["response_types_supported"])
    assert meta["response_modes_supported"] == ["query", "form_post"]
    assert meta["grant_types_supported"] == ["client_credentials", "authorization_code", DEVICE_CODE_GRANT]
    assert "openid" in meta["scopes_supported"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert meta["subject_types_supported"] == ["public"]
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert meta["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert meta["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert {"sub", "email", "email_verified", "preferred_username", "nonce", "at_hash", "auth_time"} <= set(
        meta["claims_supported"]
    )
    assert meta["request_uri_parameter_supported"] is False
    assert meta["request_parameter_supported"] is False


@pytest.mark.sec("SEC-27")
@pytest.mark.rfc("RFC 7636 §4.3, RFC 8414 §2")
def test_only_s256_is_advertised() -> None:
    assert build_metadata(full())["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.sec("SEC-38")
@pytest.mark.rfc("RFC 9207 §3")
def test_iss_in_authorization_responses_is_advertised() -> None:
    assert build_metadata(full())["authorization_response_iss_parameter_supported"] is True


@pytest.mark.sec("SEC-42")
@pytest.mark.rfc("RFC 8414 §2")
def test_a_machine_only_server_advertises_nothing_it_has_switched_off() -> None:
    features = ProviderFeatures(
        issuer=ISSUER,
        grant_types=token_endpoint(code=False).grant_types_supported,
        scopes=("items:read", "items:write"),
        userinfo_path="/oauth2/userinfo",  # no openid scope: there is no OpenID provider to speak of
        end_session_path="/oauth2/end_session",
    )
    meta = build_metadata(features)
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert meta["response_types_supported"] == []
    absent = {
        "authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "device_authorization_endpoint",
        "code_challenge_methods_supported",
        "response_modes_supported",
        "authorization_response_iss_parameter_supported",
        "id_token_signing_alg_values_supported",
        "subject_types_supported",
        "claims_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    }
    assert not absent & set(meta)


@pytest.mark.sec("SEC-42")
def test_claims_follow_the_enabled_scopes() -> None:
    meta = build_metadata(replace(full(), scopes=("openid", "profile")))
    assert "email" not in meta["claims_supported"]
    assert "preferred_username" in meta["claims_supported"]


@pytest.mark.sec("SEC-42")
def test_an_algorithm_subset_is_advertised_as_configured() -> None:
    meta = build_metadata(replace(full(), id_token_signing_algs=("RS256",)))
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]


@pytest.mark.sec("SEC-42")
@pytest.mark.parametrize(
    "changes",
    [
        {"authorization_path": None},  # the code grant without its endpoint
        {"device_authorization_path": None},  # the device grant without its endpoint
        {"grant_types": ("authorization_code",)},  # a device endpoint without the device grant
        {"id_token_signing_algs": ("ES256",)},  # OIDC requires RS256
        {"id_token_signing_algs": ("RS256", "none")},
        {"id_token_signing_algs": ("RS256", "HS256")},
        {"issuer": ISSUER + "/"},
        {"issuer": "id.example.com"},
        {"token_path": "oauth2/token"},
    ],
)
def test_inconsistent_features_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(full(), **changes)  # type: ignore[arg-type]
