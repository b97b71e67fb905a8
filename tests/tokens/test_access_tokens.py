"""RFC 9068 §2: JWT access tokens as issued, and verified the way a resource server does."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.memory.signing_keys import MemorySigningKeyStore
from ostiary.tokens.access_tokens import AccessTokenIssuer
from ostiary.tokens.key_manager import KeyConfig, KeyManager

ISS = "https://as.example"
API = "https://api.example"
NOW = 1_800_000_000.0


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def keys(clock: FrozenClock) -> KeyManager:
    mgr = KeyManager(
        MemorySigningKeyStore(),
        InstanceSecret(b"s" * 32),
        clock,
        KeyConfig(required_algs=("ES256", "EdDSA"), max_token_lifetime=600),
    )
    await mgr.load()
    return mgr


@pytest.fixture
def issuer(keys: KeyManager, clock: FrozenClock) -> AccessTokenIssuer:
    return AccessTokenIssuer(ISS, keys.ring, clock)


@pytest.fixture
def verifier(keys: KeyManager, clock: FrozenClock) -> JwtVerifier:
    return JwtVerifier(ISS, API, lambda: keys.ring().verification_keys(), clock=clock)


async def test_issued_token_follows_rfc9068(
    issuer: AccessTokenIssuer, keys: KeyManager, verifier: JwtVerifier
) -> None:
    issued = await issuer.issue("user-1", API, "app-1", "read write")
    header = jwt.get_unverified_header(issued.token)
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": keys.ring().signing_key_for("ES256").kid}
    claims = verifier.verify(issued.token)
    assert claims == {
        "iss": ISS,
        "sub": "user-1",
        "aud": API,
        "exp": int(NOW) + 600,
        "iat": int(NOW),
        "iat_ms": int(NOW) * 1000,  # the issue instant to the millisecond (compose/not_before.py)
        "jti": issued.jti,
        "client_id": "app-1",
        "scope": "read write",
    }
    assert (issued.expires_in, issued.expires_at) == (600, int(NOW) + 600)


async def test_iat_ms_is_the_issue_instant_to_the_millisecond_and_never_before_iat(
    issuer: AccessTokenIssuer, clock: FrozenClock
) -> None:
    for instant, expected in ((NOW + 0.7349, (NOW + 0.734) * 1000), (NOW + 0.9995, (NOW + 0.999) * 1000)):
        clock.set(instant)
        claims = jwt.decode(
            (await issuer.issue("u", API, "c", "s")).token, options={"verify_signature": False}
        )
        assert claims["iat"] == int(NOW)
        assert claims["iat_ms"] == round(expected)
    with pytest.raises(ValueError, match="iat_ms"):
        await issuer.issue("u", API, "c", "s", extra_claims={"iat_ms": 0})


async def test_jti_is_random_and_long(issuer: AccessTokenIssuer) -> None:
    jtis = {(await issuer.issue("u", API, "c", "s")).jti for _ in range(200)}
    assert len(jtis) == 200
    assert all(len(base64.urlsafe_b64decode(j + "==")) * 8 >= 128 for j in jtis)
    assert (await issuer.issue("u", API, "c", "s", jti="chosen")).jti == "chosen"


async def test_extra_claims_and_audience_lists(issuer: AccessTokenIssuer, verifier: JwtVerifier) -> None:
    extra = {"auth_time": int(NOW) - 30, "amr": ["pwd", "otp"], "sid": "s-1"}
    issued = await issuer.issue("u", [API, "https://other.example"], "c", "", extra_claims=extra)
    claims = verifier.verify(issued.token)
    assert claims["aud"] == [API, "https://other.example"]
    assert {k: claims[k] for k in extra} == extra
    assert "scope" not in claims


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"])
async def test_extra_claims_cannot_override_registered_ones(issuer: AccessTokenIssuer, claim: str) -> None:
    with pytest.raises(ValueError):
        await issuer.issue("u", API, "c", "s", extra_claims={claim: "x"})


@pytest.mark.parametrize(("subject", "audience", "client"), [("", API, "c"), ("u", [], "c"), ("u", API, "")])
async def test_required_inputs(issuer: AccessTokenIssuer, subject: str, audience: Any, client: str) -> None:
    with pytest.raises(ValueError):
        await issuer.issue(subject, audience, client, "s")


async def test_other_algorithms(keys: KeyManager, clock: FrozenClock, verifier: JwtVerifier) -> None:
    token = (await AccessTokenIssuer(ISS, keys.ring, clock, alg="EdDSA").issue("u", API, "c", "s")).token
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert verifier.verify(token)
    with pytest.raises(LookupError):
        await AccessTokenIssuer(ISS, keys.ring, clock, alg="RS256").issue("u", API, "c", "s")


async def test_lifetime_is_enforced_by_the_verifier(
    issuer: AccessTokenIssuer, verifier: JwtVerifier, clock: FrozenClock
) -> None:
    token = (await issuer.issue("u", API, "c", "s")).token
    clock.advance(600 + 59)
    assert verifier.verify(token)
    clock.advance(1)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.sec("SEC-15")
async def test_an_edited_access_token_is_rejected(issuer: AccessTokenIssuer, verifier: JwtVerifier) -> None:
    header, payload, signature = (await issuer.issue("u", API, "c", "read")).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "read admin"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(f"{header}.{edited}.{signature}")
    assert caught.value.reason == "bad_signature"


@pytest.mark.sec("SEC-19")
async def test_a_token_for_api_a_is_refused_by_api_b(
    issuer: AccessTokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    token = (await issuer.issue("u", API, "c", "read")).token
    api_b = JwtVerifier(ISS, "https://api-b.example", lambda: keys.ring().verification_keys(), clock=clock)
    with pytest.raises(InvalidToken) as caught:
        api_b.verify(token)
    assert caught.value.reason == "wrong_audience"


@pytest.mark.sec("SEC-20")
async def test_an_access_token_is_not_an_id_token(
    issuer: AccessTokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    token = (await issuer.issue("u", "client-1", "client-1", "openid")).token
    id_tokens = JwtVerifier(
        ISS, "client-1", lambda: keys.ring().verification_keys(), expected_typ=None, clock=clock
    )
    with pytest.raises(InvalidToken) as caught:
        id_tokens.verify(token)
    assert caught.value.reason == "wrong_typ"


@pytest.mark.sec("SEC-23")
async def test_a_resource_server_fed_from_the_jwks_follows_a_rotation(
    issuer: AccessTokenIssuer, keys: KeyManager, clock: FrozenClock
) -> None:
    """An RS caches the JWKS; on an unknown kid it re-fetches it (here: reads it again) and succeeds."""
    cache: dict[str, VerificationKey] = {}

    def refetch() -> None:
        cache.clear()
        for jwk in keys.ring().jwks()["keys"]:
            key = VerificationKey.from_jwk(jwk)
            cache[key.kid] = key

    refetch()
    rs = JwtVerifier(ISS, API, cache, clock=clock)
    old_token = (await issuer.issue("u", API, "c", "s")).token
    assert rs.verify(old_token)

    await keys.rotate("ES256")
    await keys.promote_due()  # publish_delay 0: promoted at once, before the RS has re-fetched
    new_token = (await issuer.issue("u", API, "c", "s")).token
    with pytest.raises(InvalidToken) as caught:
        rs.verify(new_token)
    assert caught.value.reason == "unknown_kid"
    refetch()
    assert rs.verify(new_token)
    assert rs.verify(old_token)  # the retired key is still published during its grace
