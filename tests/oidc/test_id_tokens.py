"""OIDC Core §2, §3.1.3.6–3.1.3.7: ID tokens as signed, and verified as a relying party does."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jwt
import pytest

from oauth_world import ISSUER, World, build_world
from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier
from ostiary.oidc.id_tokens import IdTokenSigner, token_hash
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.tokens.keys import KeyRing

NOW = 1_800_000_000.0
ACCESS = "oat_some-access-token-value"


def client(alg: str = "RS256") -> Client:
    return Client(
        client_id="rp-1", name="RP", token_endpoint_auth_method="none", id_token_signed_response_alg=alg
    )  # type: ignore[arg-type]


@pytest.fixture
async def world() -> World:
    return await build_world(FrozenClock(NOW), [client()])


def rp_verify(world: World, token: str, alg: str, audience: str = "rp-1") -> dict[str, Any]:
    """What a relying party does: key from the published JWKS by kid, algorithm pinned."""
    header = jwt.get_unverified_header(token)
    jwks = {k["kid"]: k for k in world.keys.ring().jwks()["keys"]}
    assert header["kid"] in jwks
    key = jwt.PyJWK(jwks[header["kid"]], algorithm=alg)
    return jwt.decode(
        token,
        key,
        algorithms=[alg],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
    )


def sign(world: World, alg: str = "RS256", **changes: Any) -> str:
    args: dict[str, Any] = {
        "client": client(alg),
        "subject": "u1",
        "lifetime": 600,
        "auth_time": NOW - 99.7,
        "nonce": "n-0S6_WzA2Mj",
        "amr": ("pwd", "otp"),
        "acr": "urn:ostiary:mfa",
        "sid": "sess-1",
        "access_token": ACCESS,
    }
    args.update(changes)
    return world.id_tokens.sign(**args)


@pytest.mark.sec("SEC-43")
@pytest.mark.rfc("OIDC Core §2")
@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_signed_with_the_clients_alg_and_a_published_kid(world: World, alg: str) -> None:
    token = sign(world, alg)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "typ": "JWT", "kid": world.keys.ring().signing_key_for(alg).kid}
    claims = rp_verify(world, token, alg)
    assert claims == {
        "iss": ISSUER,
        "sub": "u1",
        "aud": "rp-1",
        "azp": "rp-1",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
        "auth_time": int(NOW - 99.7),
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": token_hash(ACCESS, alg),
        "amr": ["pwd", "otp"],
        "acr": "urn:ostiary:mfa",
        "sid": "sess-1",
    }


@pytest.mark.sec("SEC-43")
@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_relying_party_with_another_alg_or_audience_refuses_it(world: World, alg: str) -> None:
    token = sign(world, alg)
    other = {"RS256": "ES256", "ES256": "EdDSA", "EdDSA": "RS256"}[alg]
    with pytest.raises(jwt.PyJWTError):
        rp_verify(world, token, other)
    with pytest.raises(jwt.InvalidAudienceError):
        rp_verify(world, token, alg, audience="rp-2")


@pytest.mark.sec("SEC-43")
@pytest.mark.rfc("OIDC Core §3.1.3.7")
async def test_nonce_is_echoed_byte_for_byte_and_omitted_when_not_sent(world: World) -> None:
    odd = 'n\u00e9 "quoted" <&> \U0001f511'
    assert rp_verify(world, sign(world, nonce=odd), "RS256")["nonce"] == odd
    claims = rp_verify(world, sign(world, nonce=None, access_token=None, amr=(), acr=None, sid=None), "RS256")
    assert set(claims) == {"iss", "sub", "aud", "azp", "iat", "exp", "auth_time"}


@pytest.mark.sec("SEC-20")
async def test_it_is_not_accepted_where_an_access_token_is_expected(world: World) -> None:
    token = sign(world)
    access_verifier = JwtVerifier(
        ISSUER, "rp-1", lambda: world.keys.ring().verification_keys(), clock=world.clock
    )
    with pytest.raises(InvalidToken) as caught:
        access_verifier.verify(token)
    assert caught.value.reason == "wrong_typ"
    id_verifier = JwtVerifier(
        ISSUER, "rp-1", lambda: world.keys.ring().verification_keys(), expected_typ=None, clock=world.clock
    )
    assert id_verifier.verify(token)["sub"] == "u1"


async def test_extra_claims_are_added_but_never_replace_protocol_claims(world: World) -> None:
    claims = rp_verify(world, sign(world, extra_claims={"email": "a@example.com"}), "RS256")
    assert claims["email"] == "a@example.com"
    for name in ("sub", "aud", "nonce", "at_hash", "iss", "exp"):
        with pytest.raises(ValueError, match="may not set"):
            sign(world, extra_claims={name: "x"})


async def test_bad_arguments_and_missing_keys_fail_loudly(world: World) -> None:
    with pytest.raises(ValueError):
        sign(world, lifetime=0)
    with pytest.raises(ValueError):
        sign(world, subject="")
    with pytest.raises(ValueError):
        IdTokenSigner("", world.keys.ring, world.clock)
    es_only = KeyRing([world.keys.ring().signing_key_for("ES256")], now=NOW, grace=60)
    signer = IdTokenSigner(ISSUER, lambda: es_only, world.clock)
    with pytest.raises(LookupError):
        signer.sign(client=client("RS256"), subject="u1", lifetime=60)


# ----------------------------------------------------------------------------------- at_hash vectors


def _reference_hash(value: str, hash_name: str) -> str:
    digest = hashlib.new(hash_name, value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.mark.rfc("OIDC Core §3.1.3.6, Appendix A.3")
def test_at_hash_of_the_oidc_core_appendix_a_example() -> None:
    assert token_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"
    # Appendix A.4's c_hash uses the same construction.
    assert (
        token_hash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk", "RS256")
        == "LDktKdoQak3Pk0cnXxCltA"
    )


@pytest.mark.rfc("OIDC Core §3.1.3.6")
@pytest.mark.parametrize(
    ("alg", "hash_name", "expected"),
    [
        ("RS256", "sha256", "wfgvmE9VxjAudsl9lc6TqA"),
        ("ES256", "sha256", "wfgvmE9VxjAudsl9lc6TqA"),
        # Ed25519 hashes with SHA-512: the left half is 32 bytes, 43 base64url characters.
        ("EdDSA", "sha512", "8xltSlOGYrWy8W9yNvRlEth1i_bXW-JROWPLvCv5zog"),
    ],
)
def test_at_hash_uses_the_hash_of_the_alg(alg: str, hash_name: str, expected: str) -> None:
    value = "dNZX1hEZ9wBCzNL40Upu646bdzQA"
    assert token_hash(value, alg) == _reference_hash(value, hash_name) == expected


def test_at_hash_of_an_unknown_alg_is_refused() -> None:
    with pytest.raises(ValueError):
        token_hash("x", "HS256")
