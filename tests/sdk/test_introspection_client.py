"""RFC 7662: the parts of `IntrospectionClient` that need no introspection endpoint — client
authentication encoding, which answers are accepted, what is refused without a call, and that an
unreachable endpoint is never remembered as "inactive". Caching against a real ostiary
`/introspect` belongs in tests/e2e/sdk once that route exists."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from helpers import free_port
from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import InvalidToken
from ostiary.sdk import IntrospectionClient, VerificationUnavailable
from ostiary.sdk.introspection import accepted, basic_auth

NOW = 1_800_000_000.0
ACTIVE: dict[str, Any] = {
    "active": True,
    "sub": "u-1",
    "client_id": "web",
    "scope": "items:read",
    "token_type": "Bearer",
    "iss": "https://id.example.com",
    "aud": "https://items.example.com",
    "exp": NOW + 300,
    "iat": NOW - 10,
}


def test_client_secret_basic_form_encodes_before_base64() -> None:
    header = basic_auth("my api", "s3cr:t/+é")
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == "my+api:s3cr%3At%2F%2B%C3%A9"  # RFC 6749 §2.3.1


def test_an_active_access_token_is_accepted() -> None:
    info = accepted(ACTIVE, now=NOW, issuer="https://id.example.com", audience="https://items.example.com")
    assert info is not None
    assert (info.subject, info.client_id, info.scopes) == ("u-1", "web", {"items:read"})
    assert accepted({**ACTIVE, "token_type": "bearer"}, now=NOW) is not None
    assert accepted({k: v for k, v in ACTIVE.items() if k not in ("token_type", "iss")}, now=NOW) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"active": "true"},
        {"active": 1},
        {"token_type": "refresh_token"},  # SEC-20: never an access token
        {"token_type": "N_A"},
        {"iss": "https://id.example.com.evil"},
        {"aud": "https://other.example.com"},
        {"aud": None},
        {"sub": None},
        {"exp": NOW},
        {"nbf": NOW + 120},
    ],
)
@pytest.mark.sec("SEC-20")
def test_answers_an_api_must_not_accept(change: dict[str, Any]) -> None:
    answer = {k: v for k, v in {**ACTIVE, **change}.items() if v is not None}
    assert (
        accepted(answer, now=NOW, issuer="https://id.example.com", audience="https://items.example.com")
        is None
    )


def counting_client() -> tuple[httpx.AsyncClient, list[str]]:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(str(request.url))

    return httpx.AsyncClient(timeout=2, event_hooks={"request": [record]}), seen


@pytest.mark.sec("SEC-21")
async def test_tokens_that_cannot_be_bearer_tokens_are_refused_without_a_call() -> None:
    http, seen = counting_client()
    async with http:
        client = IntrospectionClient(f"http://127.0.0.1:{free_port()}/introspect", "api", "secret", http=http)
        for token in ("", "a b", "x" * 8193, "tok\n", "ünïcode", '"quoted"'):
            with pytest.raises(InvalidToken):
                await client.verify(token)
    assert seen == []


async def test_an_unreachable_endpoint_fails_closed_and_is_not_cached() -> None:
    http, seen = counting_client()
    async with http:
        client = IntrospectionClient(
            f"http://127.0.0.1:{free_port()}/introspect", "api", "secret", http=http, clock=FrozenClock(NOW)
        )
        for _ in range(3):
            with pytest.raises(VerificationUnavailable):
                await client.verify("opaque-token-value")
    assert len(seen) == 3  # asked each time: a failure is never remembered as "inactive"


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError):
        IntrospectionClient("http://id.example.com/introspect", "api", "secret")  # plain http off-host
    with pytest.raises(ValueError):
        IntrospectionClient("https://id.example.com/introspect", "api", "")
    with pytest.raises(ValueError):
        IntrospectionClient("https://id.example.com/introspect", "api", "secret", cache_ttl=-1)
