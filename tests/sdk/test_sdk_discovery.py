"""OIDC Discovery 1.0 §4 / RFC 8414 §3: where metadata is looked for, and which documents are
accepted (the issuer must match exactly: no mix-up). Fetching from a real ostiary belongs in
tests/e2e/sdk once ostiary serves discovery."""

from __future__ import annotations

import json

import pytest

from helpers import free_port
from ostiary.sdk import DiscoveryError, from_discovery
from ostiary.sdk.discovery import discovery_urls, parse_metadata

ISSUER = "https://id.example.com"


def test_discovery_urls_for_issuers_with_and_without_a_path() -> None:
    assert discovery_urls(ISSUER) == [
        "https://id.example.com/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server",
    ]
    assert discovery_urls("https://example.com/tenant/a") == [
        "https://example.com/tenant/a/.well-known/openid-configuration",
        "https://example.com/.well-known/oauth-authorization-server/tenant/a",
    ]


def test_a_matching_document_gives_the_endpoints() -> None:
    document = {
        "issuer": ISSUER,
        "jwks_uri": ISSUER + "/.well-known/jwks.json",
        "token_endpoint": ISSUER + "/token",
        "device_authorization_endpoint": ISSUER + "/device_authorization",
        "scopes_supported": ["openid"],
    }
    metadata = parse_metadata(ISSUER, json.dumps(document).encode())
    assert metadata.jwks_uri == ISSUER + "/.well-known/jwks.json"
    assert metadata.device_authorization_endpoint == ISSUER + "/device_authorization"
    assert metadata.introspection_endpoint is None
    assert metadata.raw["scopes_supported"] == ["openid"]


@pytest.mark.parametrize(
    "issuer_in_document",
    [
        None,
        "https://id.example.com/",
        "https://ID.example.com",
        "http://id.example.com",
        "https://evil.example",
    ],
)
def test_the_issuer_must_match_exactly(issuer_in_document: str | None) -> None:
    with pytest.raises(DiscoveryError):
        parse_metadata(ISSUER, {"issuer": issuer_in_document, "jwks_uri": ISSUER + "/jwks"})


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        {"issuer": ISSUER, "jwks_uri": 42},
        {"issuer": ISSUER, "jwks_uri": "http://id.example.com/jwks"},  # downgraded to plain http
        {"issuer": ISSUER, "token_endpoint": "javascript:alert(1)"},
    ],
)
def test_malformed_or_downgraded_documents_are_refused(document: bytes | dict[str, object]) -> None:
    with pytest.raises(DiscoveryError):
        parse_metadata(ISSUER, document)


async def test_an_unreachable_or_insecure_issuer_is_a_clear_error() -> None:
    with pytest.raises(DiscoveryError, match="cannot reach"):
        await from_discovery(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DiscoveryError, match="https"):
        await from_discovery("http://id.example.com")
