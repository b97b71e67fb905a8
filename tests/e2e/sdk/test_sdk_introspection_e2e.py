"""End to end: `from_discovery` and `IntrospectionClient` against a real `ostiary serve` (RFC 8414,
RFC 7662, RFC 7009). The resource server registers as a confidential client with the
`introspection` scope (`ostiary clients create`), a service gets opaque tokens by client_credentials."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest
from sdk_helpers import CountingClient, create_client, fetch_token
from serving import Server

from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import InvalidToken
from ostiary.sdk import (
    IntrospectionClient,
    JwksCache,
    JwtAccessTokenVerifier,
    ProviderMetadata,
    VerificationUnavailable,
    from_discovery,
)

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Clients:
    api_secret: str  # "items-api": may introspect any access token
    service_secret: str  # "opaque-svc": client_credentials, opaque access tokens


@pytest.fixture(scope="module")
def clients(issuer_server: Server) -> Clients:
    api = create_client(
        issuer_server, "items-api", "--grant", "client_credentials", "--scope", "introspection"
    )
    service = create_client(
        issuer_server,
        "opaque-svc",
        "--grant",
        "client_credentials",
        "--scope",
        "items:read",
        "--access-token-format",
        "opaque",
    )
    return Clients(api, service)


def opaque_token(server: Server, clients: Clients) -> str:
    response = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": "items:read"},
        auth=("opaque-svc", clients.service_secret),
        timeout=15,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    assert token.count(".") != 2, "expected an opaque token"
    return token


@pytest.fixture
async def metadata(issuer_server: Server) -> ProviderMetadata:
    return await from_discovery(issuer_server.base_url)


def introspection(
    metadata: ProviderMetadata,
    clients: Clients,
    http: httpx.AsyncClient,
    clock: FrozenClock,
    **options: float,
) -> IntrospectionClient:
    assert metadata.introspection_endpoint is not None
    return IntrospectionClient(
        metadata.introspection_endpoint,
        "items-api",
        clients.api_secret,
        issuer=metadata.issuer,
        audience=metadata.issuer,
        http=http,
        clock=clock,
        **options,
    )


async def test_discovery_gives_what_the_sdk_needs(
    issuer_server: Server, metadata: ProviderMetadata, http: CountingClient
) -> None:
    base = issuer_server.base_url
    assert metadata.issuer == base
    assert metadata.jwks_uri == base + "/.well-known/jwks.json"
    assert metadata.introspection_endpoint == base + "/introspect"
    assert metadata.device_authorization_endpoint == base + "/device_authorization"
    verifier = JwtAccessTokenVerifier(metadata.issuer, base, JwksCache(metadata.jwks_uri, http=http))
    assert (await verifier.verify(fetch_token(issuer_server, "carol"))).username == "carol"


async def test_an_opaque_token_is_active_and_the_answer_is_cached_until_ttl_or_exp(
    issuer_server: Server, clients: Clients, metadata: ProviderMetadata, http: CountingClient
) -> None:
    token = opaque_token(issuer_server, clients)
    clock = FrozenClock(time.time())
    client = introspection(metadata, clients, http, clock, cache_ttl=60)
    info = await client.verify(token)
    assert (info.subject, info.client_id, info.scopes) == ("client:opaque-svc", "opaque-svc", {"items:read"})
    for _ in range(5):
        await client.verify(token)
    assert http.count("/introspect") == 1
    clock.advance(61)
    await client.verify(token)
    assert http.count("/introspect") == 2

    # A long cache_ttl is still capped by the token's own exp.
    long = introspection(metadata, clients, http, clock, cache_ttl=86_400)
    info = await long.verify(token)
    assert info.expires_at is not None
    clock.set(info.expires_at - 1)
    await long.verify(token)
    assert http.count("/introspect") == 3  # still the cached answer, a day's ttl notwithstanding
    clock.set(info.expires_at)
    with pytest.raises(InvalidToken):  # past exp: refused, whatever the cache or server say
        await long.verify(token)


@pytest.mark.sec("SEC-36")
async def test_a_revoked_token_turns_inactive_within_the_cache_ttl(
    issuer_server: Server, clients: Clients, metadata: ProviderMetadata, http: CountingClient
) -> None:
    token = opaque_token(issuer_server, clients)
    clock = FrozenClock(time.time())
    client = introspection(metadata, clients, http, clock, cache_ttl=30)
    await client.verify(token)
    async with httpx.AsyncClient() as service:
        revoked = await service.post(
            issuer_server.base_url + "/revoke",
            data={"token": token},
            auth=("opaque-svc", clients.service_secret),
        )
    assert revoked.status_code == 200
    await client.verify(token)  # the documented bound: a cached answer lives until cache_ttl
    clock.advance(31)
    with pytest.raises(InvalidToken):
        await client.verify(token)
    uncached = introspection(metadata, clients, http, clock, cache_ttl=0)
    with pytest.raises(InvalidToken):
        await uncached.verify(token)
    assert await uncached.introspect(token) == {"active": False}


async def test_inactive_answers_are_cached_briefly_and_failures_not_at_all(
    issuer_server: Server, clients: Clients, metadata: ProviderMetadata, http: CountingClient
) -> None:
    clock = FrozenClock(time.time())
    client = introspection(metadata, clients, http, clock, inactive_ttl=5)
    garbage = "oat_" + "A" * 43
    for _ in range(10):
        with pytest.raises(InvalidToken):
            await client.verify(garbage)
    assert http.count("/introspect") == 1
    clock.advance(6)
    with pytest.raises(InvalidToken):
        await client.verify(garbage)
    assert http.count("/introspect") == 2

    assert metadata.introspection_endpoint is not None
    wrong_secret = IntrospectionClient(
        metadata.introspection_endpoint, "items-api", "not-the-secret", http=http
    )
    token = opaque_token(issuer_server, clients)
    for _ in range(2):  # 401 invalid_client: "cannot check", never "inactive", never remembered
        with pytest.raises(VerificationUnavailable):
            await wrong_secret.verify(token)
    assert http.count("/introspect") == 4
