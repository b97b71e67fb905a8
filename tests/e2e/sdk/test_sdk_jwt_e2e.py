"""End to end: `JwtAccessTokenVerifier` + `JwksCache` against a real `ostiary serve` over real HTTP.

Real access tokens from `POST /auth/token`, the real JWKS at /.well-known/jwks.json; forged tokens
built from them. The JWKS fetches are counted on the SDK's own httpx client (an event hook).
RFC 9068 §4, RFC 8725 §3, OIDC Core §10.1.1 (rotation).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sdk_helpers import (
    GENEROUS_LIMITS,
    JWKS_PATH,
    CanaryServer,
    CountingClient,
    b64,
    fetch_token,
    join,
    ostiary_cli,
    split,
)
from serving import Server, serve

from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import InvalidToken
from ostiary.sdk import JwksCache, JwtAccessTokenVerifier, TokenInfo

pytestmark = pytest.mark.e2e

ROGUE_KEY = ec.generate_private_key(ec.SECP256R1())


def verifier_for(
    server: Server,
    http: httpx.AsyncClient,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    clock: FrozenClock | None = None,
    jwks_clock: FrozenClock | None = None,
    max_age: float = 300,
) -> JwtAccessTokenVerifier:
    jwks = JwksCache(server.base_url + JWKS_PATH, http=http, clock=jwks_clock, max_age=max_age)
    return JwtAccessTokenVerifier(issuer or server.base_url, audience or server.base_url, jwks, clock=clock)


def forge(server: Server, kid: str, *, headers: dict[str, object] | None = None) -> str:
    """A well-formed access token for `server`, signed by a key that is not the server's."""
    now = int(time.time())
    claims = {
        "iss": server.base_url,
        "aud": server.base_url,
        "sub": "mallory",
        "exp": now + 600,
        "iat": now,
        "jti": f"forged-{kid}",
        "client_id": "ostiary",
        "scope": "items:read items:write users:manage",
    }
    return jwt.encode(
        claims, ROGUE_KEY, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid, **(headers or {})}
    )


async def refused(verifier: JwtAccessTokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    return caught.value.reason


async def test_real_tokens_verify_and_concurrent_first_requests_share_one_jwks_fetch(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    carol, bob = token_for("carol"), token_for("bob", scope="items:read items:write")
    verifier = verifier_for(issuer_server, http)

    # A cold cache under 30 concurrent requests: exactly one fetch, every request verified.
    infos = await asyncio.gather(*(verifier.verify(t) for t in [carol, bob] * 15))
    assert http.count() == 1
    carol_info, bob_info = infos[0], infos[1]
    assert isinstance(carol_info, TokenInfo)
    assert carol_info.username == "carol"
    assert carol_info.issuer == issuer_server.base_url
    assert carol_info.client_id == "ostiary"
    assert carol_info.audience == (issuer_server.base_url,)
    assert "items:read" in carol_info.scopes and "items:write" not in carol_info.scopes
    assert carol_info.permissions == carol_info.scopes  # ostiary's scopes are permissions
    assert bob_info.scopes == {"items:read", "items:write"}  # narrowed at issue time
    assert bob_info.subject != carol_info.subject
    assert carol_info.expires_at is not None and carol_info.expires_at > time.time()

    for _ in range(20):
        await verifier.verify(carol)
    assert http.count() == 1, "keys are parsed and cached once, not fetched per request"


async def test_an_unknown_kid_refetches_once_per_interval_however_many_tokens_ask(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    jwks_clock = FrozenClock(time.time())
    verifier = verifier_for(issuer_server, http, jwks_clock=jwks_clock)
    await verifier.verify(token_for("carol"))
    assert http.count() == 1
    # The interval counts from the last fetch of any kind: a set fetched a moment ago is current.
    assert await refused(verifier, forge(issuer_server, "too-soon")) == "unknown_kid"
    assert http.count() == 1

    jwks_clock.advance(31)
    assert await refused(verifier, forge(issuer_server, "rogue-0")) == "unknown_kid"
    assert http.count() == 2  # one refetch: it could have been a freshly rotated key

    # Within min_refetch_interval (30 s), no kid — sequential or concurrent — causes another fetch.
    results = await asyncio.gather(
        *(verifier.verify(forge(issuer_server, f"rogue-{i}")) for i in range(1, 40)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidToken) and r.reason == "unknown_kid" for r in results)
    assert http.count() == 2

    jwks_clock.advance(31)
    results = await asyncio.gather(
        *(verifier.verify(forge(issuer_server, f"later-{i}")) for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidToken) for r in results)
    assert http.count() == 3  # exactly one more, shared by the 20 concurrent requests
    assert all(url == issuer_server.base_url + JWKS_PATH for url in http.requested)


@pytest.mark.sec("SEC-17")
async def test_keys_named_by_the_token_are_never_fetched_or_trusted(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    jwks_clock = FrozenClock(time.time())
    verifier = verifier_for(issuer_server, http, jwks_clock=jwks_clock)
    await verifier.verify(token_for("carol"))
    jwks_clock.advance(31)
    rogue_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ROGUE_KEY.public_key()))
    with CanaryServer() as canary:
        for headers in (
            {"jku": canary.url + "/jwks.json"},
            {"x5u": canary.url + "/cert.pem"},
            {"jwk": rogue_jwk},
            {"jku": canary.url + "/jwks.json", "jwk": rogue_jwk},
        ):
            assert (
                await refused(verifier, forge(issuer_server, "attacker", headers=headers))
                == "unsupported_header"
            )
        for kid in ("../../dev/null", "' OR '1'='1", "http://evil.example/key"):
            assert await refused(verifier, forge(issuer_server, kid)) == "unknown_kid"
    assert canary.hits == []
    # Only the configured JWKS URI was ever asked (once more, for the first unknown kid).
    assert set(http.requested) == {issuer_server.base_url + JWKS_PATH}
    assert http.count() == 2


@pytest.mark.sec("SEC-15")
async def test_alg_none_stripped_signatures_and_edited_payloads_are_refused(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    verifier = verifier_for(issuer_server, http)
    token = token_for("carol")
    await verifier.verify(token)
    header, payload, signature = split(token)

    for alg in ("none", "None", "NONE", "nOnE"):
        assert await refused(verifier, join({**header, "alg": alg}, payload, "")) in (
            "malformed",
            "alg_mismatch",
        )
        assert await refused(verifier, join({**header, "alg": alg}, payload, signature)) == "alg_mismatch"
    assert await refused(verifier, token.rsplit(".", 1)[0] + ".") == "malformed"
    for edit in ({"scope": payload["scope"] + " users:manage"}, {"sub": "someone-else"}, {"aud": "x"}):
        assert await refused(verifier, join(header, {**payload, **edit}, signature)) == "bad_signature"
    assert http.count() == 1  # the kid was known: forged tokens cause no refetch


@pytest.mark.sec("SEC-16")
async def test_the_public_key_used_as_an_hmac_secret_is_refused(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    verifier = verifier_for(issuer_server, http)
    token = token_for("carol")
    await verifier.verify(token)
    header, payload, _ = split(token)
    async with httpx.AsyncClient() as plain:
        jwk_data = (await plain.get(issuer_server.base_url + JWKS_PATH)).json()["keys"][0]
    public = jwt.PyJWK(jwk_data).key
    secrets_to_try = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        json.dumps(jwk_data).encode(),
    ]
    for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384), ("HS512", hashlib.sha512)):
        for secret in secrets_to_try:
            unsigned = join({**header, "alg": alg}, payload, "x").rsplit(".", 1)[0]
            signature = b64(hmac.new(secret, unsigned.encode(), digest).digest())
            assert await refused(verifier, f"{unsigned}.{signature}") == "alg_mismatch"


@pytest.mark.sec("SEC-19")
async def test_tokens_for_another_api_or_from_a_lookalike_issuer_are_refused(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    token = token_for("carol")
    base = issuer_server.base_url
    assert (
        await refused(verifier_for(issuer_server, http, audience="https://items.example"), token)
        == "wrong_audience"
    )
    for issuer in (base + "/extra", base.replace("http://", "https://"), base + "/", "http", base[:-1]):
        assert await refused(verifier_for(issuer_server, http, issuer=issuer), token) == "wrong_issuer"


@pytest.mark.sec("SEC-18")
async def test_expiry_is_enforced_with_at_most_60_seconds_of_leeway(
    issuer_server: Server, token_for: Callable[..., str], http: CountingClient
) -> None:
    token = token_for("carol")
    exp = split(token)[1]["exp"]
    still = verifier_for(issuer_server, http, clock=FrozenClock(exp + 59))
    assert (await still.verify(token)).username == "carol"
    expired = verifier_for(issuer_server, http, clock=FrozenClock(exp + 61))
    assert await refused(expired, token) == "expired"


@pytest.mark.sec("SEC-23")
async def test_a_rotated_key_is_picked_up_on_first_sight_and_the_old_one_still_verifies(
    tmp_path: Path, http: CountingClient
) -> None:
    settings = {**GENEROUS_LIMITS, "OSTIARY_SIGNING_KEY_RELOAD_SECONDS": "1"}
    with serve(tmp_path, **settings) as server:
        jwks_clock = FrozenClock(time.time())
        verifier = verifier_for(server, http, jwks_clock=jwks_clock)
        old = fetch_token(server, "carol")
        await verifier.verify(old)
        old_kid = split(old)[0]["kid"]

        no_delay = {"OSTIARY_SIGNING_KEY_PUBLISH_DELAY_SECONDS": "0"}
        ostiary_cli(server, "keys", "rotate", "--alg", "ES256", **no_delay)
        ostiary_cli(server, "keys", "promote", **no_delay)
        deadline = time.monotonic() + 20
        new = fetch_token(server, "carol")
        while split(new)[0]["kid"] == old_kid:  # the server reloads its key ring every second
            assert time.monotonic() < deadline, "the server never signed with the new key"
            await asyncio.sleep(0.3)
            new = fetch_token(server, "carol")

        jwks_clock.advance(31)  # past min_refetch_interval since the first fetch
        assert (await verifier.verify(new)).username == "carol"
        assert http.count() == 2
        assert (await verifier.verify(old)).username == "carol"  # retired keys verify until expiry
        assert http.count() == 2


async def test_cache_control_max_age_is_honoured_and_keys_survive_an_unreachable_issuer(
    tmp_path: Path, http: CountingClient
) -> None:
    jwks_clock = FrozenClock(time.time())
    # The server says max-age=300; a larger local max_age must not stretch it.
    with serve(tmp_path, **GENEROUS_LIMITS) as server:
        verifier = verifier_for(server, http, jwks_clock=jwks_clock, max_age=3600)
        token = fetch_token(server, "carol")
        await verifier.verify(token)
        jwks_clock.advance(299)
        await verifier.verify(token)
        assert http.count() == 1
        jwks_clock.advance(2)
        await verifier.verify(token)
        assert http.count() == 2
    # The issuer is gone: the stale set is kept, refetches are still throttled, tokens still verify.
    jwks_clock.advance(301)
    assert (await verifier.verify(token)).username == "carol"
    assert http.count() == 3
    assert (await verifier.verify(token)).username == "carol"
    assert await refused(verifier, forge(server, "rogue")) == "unknown_kid"
    assert http.count() == 3
