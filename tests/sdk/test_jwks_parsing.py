"""RFC 7517 §5 / RFC 8725 §3.1, §3.5: what `parse_jwks` keeps from a JWK Set, and RFC 9111 §5.2.2
Cache-Control lifetimes. Pure: no HTTP (the fetching is tested end to end in tests/e2e/sdk)."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ostiary.sdk.errors import VerificationUnavailable
from ostiary.sdk.jwks import JwksCache, cache_lifetime, parse_jwks


def ec_jwk(kid: str, alg: str = "ES256", key: Any = None) -> dict[str, Any]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    data: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


@pytest.mark.parametrize(
    ("header", "lifetime"),
    [
        (None, None),
        ("", None),
        ("public, max-age=300", 300.0),
        ('MAX-AGE="60", public', 60.0),
        ("public", None),
        ("no-store", 0.0),
        ("max-age=300, no-cache", 0.0),
        ("max-age=-1", 0.0),
        ("max-age=abc", 0.0),
        ("s-maxage=900", None),
    ],
)
def test_cache_control_lifetimes(header: str | None, lifetime: float | None) -> None:
    assert cache_lifetime(header) == lifetime


def test_usable_keys_are_parsed_and_pinned_to_their_alg() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    document = {
        "keys": [
            ec_jwk("a"),
            {**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed.public_key())), "kid": "b", "alg": "EdDSA"},
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
                "kid": "c",
                "alg": "RS256",
            },
        ]
    }
    parsed = parse_jwks(document)
    assert {kid: key.alg for kid, (_, key) in parsed.items()} == {"a": "ES256", "b": "EdDSA", "c": "RS256"}


@pytest.mark.sec("SEC-16")
def test_keys_that_could_confuse_a_verifier_are_skipped() -> None:
    private_ec = ec.generate_private_key(ec.SECP256R1())
    weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with_private = {**ec_jwk("private", key=private_ec), "d": "AAAA"}
    document = {
        "keys": [
            ec_jwk("good"),
            {k: v for k, v in ec_jwk("no-alg").items() if k != "alg"},
            ec_jwk("hmac-alg", alg="HS256"),
            ec_jwk("none-alg", alg="none"),
            ec_jwk("wrong-curve", alg="ES384"),
            {**ec_jwk("enc"), "use": "enc"},
            with_private,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric", "alg": "HS256"},
            {
                **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak_rsa.public_key())),
                "kid": "weak",
                "alg": "RS256",
            },
            {**ec_jwk("x"), "kid": None},
            ec_jwk("twice"),
            ec_jwk("twice"),
            "not an object",
        ]
    }
    assert set(parse_jwks(document)) == {"good"}


def test_an_unchanged_key_is_not_parsed_again() -> None:
    first = parse_jwks({"keys": [ec_jwk("a"), ec_jwk("b")]})
    again = parse_jwks({"keys": [first["a"][0], ec_jwk("c")]}, first)
    assert again["a"][1] is first["a"][1]
    assert set(again) == {"a", "c"}


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, {"keys": "x"}, "keys", None])
def test_a_document_without_a_keys_array_is_an_error(document: object) -> None:
    with pytest.raises(VerificationUnavailable):
        parse_jwks(document)


def test_only_https_or_loopback_jwks_uris_are_accepted() -> None:
    JwksCache("https://id.example.com/.well-known/jwks.json")
    JwksCache("http://127.0.0.1:8000/.well-known/jwks.json")
    JwksCache("http://localhost:8000/.well-known/jwks.json")
    for uri in ("http://id.example.com/jwks", "ftp://id.example.com/jwks", "/jwks", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            JwksCache(uri)
    JwksCache("http://id.internal/jwks", allow_insecure_http=True)
    with pytest.raises(ValueError):
        JwksCache("https://id.example.com/jwks", min_refetch_interval=-1)
