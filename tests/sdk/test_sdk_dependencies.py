"""RFC 6750 §2.1, §3: `OstiaryAuth` in a plain Starlette app (no FastAPI), with a validator that
checks real ES256 tokens against a local key (`JwtVerifier`), so these tests need no server; the
JWKS path through HTTP is tested end to end in tests/e2e/sdk."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers import free_port
from ostiary.core.jwt_verify import JwtVerifier, VerificationKey
from ostiary.sdk import IntrospectionClient, JwksCache, JwtAccessTokenVerifier, OstiaryAuth, TokenInfo

ISSUER = "https://id.example.com"
KEY = ec.generate_private_key(ec.SECP256R1())


class LocalKeyValidator:
    """A `TokenValidator` over one local key: the same checks, minus the JWKS fetch."""

    def __init__(self) -> None:
        self._jwt = JwtVerifier(ISSUER, "items", {"k1": VerificationKey("k1", "ES256", KEY.public_key())})

    async def verify(self, token: str) -> TokenInfo:
        return TokenInfo.from_claims(self._jwt.verify(token))


def token(**claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": "items", "sub": "u-1", "exp": now + 300, "iat": now, "jti": "j", **claims}
    return jwt.encode(body, KEY, algorithm="ES256", headers={"typ": "at+jwt", "kid": "k1"})


def app_with(auth: OstiaryAuth) -> Starlette:
    async def read(request: Request) -> JSONResponse:
        info = await auth.authenticate(request, scopes=["items:read"])
        return JSONResponse({"sub": info.subject, "same": request.state.token_info is info})

    async def admin(request: Request) -> JSONResponse:
        await auth.authenticate(request, scopes=["items:read"], permissions=["users:manage"])
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/read", read), Route("/admin", admin)])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = app_with(OstiaryAuth(LocalKeyValidator()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as c:
        yield c


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_a_valid_token_with_the_scope_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/read", headers=bearer(token(scope="items:read")))
    assert response.status_code == 200
    assert response.json() == {"sub": "u-1", "same": True}
    lowercase_scheme = await client.get(
        "/read", headers={"Authorization": "bearer " + token(scope="items:read")}
    )
    assert lowercase_scheme.status_code == 200


async def test_missing_scope_or_permission_is_403_naming_what_is_needed(client: httpx.AsyncClient) -> None:
    response = await client.get("/read", headers=bearer(token(scope="posts:read")))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="The access token does not grant this.", '
        'scope="items:read"'
    )
    no_permission = await client.get("/admin", headers=bearer(token(scope="items:read")))
    assert no_permission.status_code == 403
    assert 'scope="items:read users:manage"' in no_permission.headers["www-authenticate"]
    explicit = token(scope="items:read", permissions=["users:manage"])
    assert (await client.get("/admin", headers=bearer(explicit))).status_code == 200


@pytest.mark.sec("SEC-18")
@pytest.mark.sec("SEC-20")
async def test_refused_tokens_are_401_invalid_token(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    id_token_like = jwt.encode(
        {"iss": ISSUER, "aud": "items", "sub": "u", "exp": now + 60, "iat": now, "scope": "items:read"},
        KEY, algorithm="ES256", headers={"kid": "k1"},
    )  # fmt: skip
    for bad in (
        token(scope="items:read", exp=now - 61),
        token(scope="items:read", aud="other"),
        id_token_like,
    ):
        response = await client.get("/read", headers=bearer(bad))
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        assert "expired" not in response.text.replace("invalid or expired", "")  # no reason leaks


async def test_missing_and_repeated_credentials(client: httpx.AsyncClient) -> None:
    missing = await client.get("/read")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    good = token(scope="items:read")
    repeated = await client.get("/read", headers=[("authorization", f"Bearer {good}")] * 2)
    assert repeated.status_code == 400
    assert 'error="invalid_request"' in repeated.headers["www-authenticate"]


async def test_validators_that_cannot_reach_the_issuer_answer_503() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with (
        JwksCache(dead + "/jwks.json") as jwks,
        IntrospectionClient(dead + "/introspect", "items", "secret") as introspection,
    ):
        for validator in (JwtAccessTokenVerifier(ISSUER, "items", jwks), introspection):
            app = app_with(OstiaryAuth(validator, retry_after=7))
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api.test"
            ) as c:
                response = await c.get("/read", headers=bearer(token(scope="items:read")))
            assert response.status_code == 503
            assert response.headers["retry-after"] == "7"
            assert "www-authenticate" not in response.headers


async def test_the_realm_is_quoted_in_the_challenge() -> None:
    app = app_with(OstiaryAuth(LocalKeyValidator(), realm='say "hi"'))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as c:
        response = await c.get("/read")
    assert response.headers["www-authenticate"] == 'Bearer realm="say \\"hi\\""'


def test_route_requirements_are_checked_when_declared() -> None:
    auth = OstiaryAuth(LocalKeyValidator())
    auth.require(scopes="items:read items:write", permissions=["users:manage"])
    for bad in (['items "read"'], ["a b"], ["back\\slash"], [""]):
        with pytest.raises(ValueError):
            auth.require(scopes=bad)
    with pytest.raises(ValueError):
        JwtAccessTokenVerifier(ISSUER, "items", JwksCache(ISSUER + "/jwks"), algorithms=("ES256", "HS256"))
    with pytest.raises(ValueError):
        JwtAccessTokenVerifier(ISSUER, "", JwksCache(ISSUER + "/jwks"))
