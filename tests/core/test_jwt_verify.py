"""RFC 8725 §3 / RFC 9068 §4: JwtVerifier refuses every forged, confused or abusive token (SEC-15..21)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ostiary.core import jwt_verify
from ostiary.core.clock import FrozenClock
from ostiary.core.errors import NotAuthenticated
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey

ISS = "https://as.example"
AUD = "https://api-a.example"
NOW = 1_800_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def keys(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> dict[str, VerificationKey]:
    return {
        "ec-1": VerificationKey("ec-1", "ES256", ec_key.public_key()),
        "rsa-1": VerificationKey("rsa-1", "RS256", rsa_key.public_key()),
        "ed-1": VerificationKey("ed-1", "EdDSA", ed_key.public_key()),
    }


@pytest.fixture
def verifier(keys: dict[str, VerificationKey], clock: FrozenClock) -> JwtVerifier:
    return JwtVerifier(ISS, AUD, keys, clock=clock)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISS,
        "sub": "user-1",
        "aud": AUD,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "j-1",
        "client_id": "app",
        "scope": "read",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, alg: str = "ES256", kid: str | None = "ec-1", body: Any = None, **header: Any) -> str:
    """Sign with PyJWS over raw JSON so that even ill-typed claims can be tested.

    `typ=None` (or "") makes PyJWS omit the header parameter entirely.
    """
    headers: dict[str, Any] = {"typ": "at+jwt", **header}
    if kid is not None:
        headers["kid"] = kid
    payload = json.dumps(claims() if body is None else body).encode()
    token = jwt.api_jws.encode(payload, key, algorithm=alg, headers=headers)
    if "typ" in header and not header["typ"]:
        assert "typ" not in jwt.get_unverified_header(token)
    return token


def reason(verifier: JwtVerifier, token: Any) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


# ------------------------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(("kid", "alg"), [("ec-1", "ES256"), ("rsa-1", "RS256"), ("ed-1", "EdDSA")])
def test_valid_token_is_accepted(
    verifier: JwtVerifier, kid: str, alg: str, ec_key: Any, rsa_key: Any, ed_key: Any
) -> None:
    private = {"ec-1": ec_key, "rsa-1": rsa_key, "ed-1": ed_key}[kid]
    assert verifier.verify(sign(private, alg, kid))["sub"] == "user-1"


def test_invalid_token_is_a_401_with_code_invalid_token() -> None:
    error = InvalidToken("expired")
    assert isinstance(error, NotAuthenticated)
    assert (error.status, error.code, error.reason) == (401, "invalid_token", "expired")


def test_keys_can_come_from_a_provider(keys: dict[str, VerificationKey], ec_key: Any) -> None:
    calls: list[int] = []

    def provider() -> dict[str, VerificationKey]:
        calls.append(1)
        return keys

    verifier = JwtVerifier(ISS, AUD, provider, clock=FrozenClock(NOW))
    assert verifier.verify(sign(ec_key))["iss"] == ISS
    assert calls


# ------------------------------------------------------------------------------ SEC-15: none, tampering


@pytest.mark.sec("SEC-15")
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_casing_is_rejected(verifier: JwtVerifier, alg: str) -> None:
    unsigned = f"{b64json({'alg': alg, 'typ': 'at+jwt', 'kid': 'ec-1'})}.{b64json(claims())}"
    assert reason(verifier, unsigned + ".") == "malformed"  # empty signature
    assert reason(verifier, unsigned + "." + b64(b"x" * 64)) == "alg_mismatch"  # never a "none" key


@pytest.mark.sec("SEC-15")
def test_stripped_signature_is_rejected(verifier: JwtVerifier, ec_key: Any) -> None:
    header, payload, _ = sign(ec_key).split(".")
    assert reason(verifier, f"{header}.{payload}.") == "malformed"
    assert reason(verifier, f"{header}.{payload}") == "malformed"


@pytest.mark.sec("SEC-15")
@pytest.mark.parametrize("edit", [{"sub": "admin"}, {"scope": "read write admin"}])
def test_edited_payload_is_rejected(verifier: JwtVerifier, ec_key: Any, edit: dict[str, str]) -> None:
    header, _, signature = sign(ec_key).split(".")
    assert reason(verifier, f"{header}.{b64json(claims(**edit))}.{signature}") == "bad_signature"


# ----------------------------------------------------------------- SEC-16: HMAC with the public key


def _encodings(public_key: Any) -> dict[str, bytes]:
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    jwk = (ECAlgorithm if isinstance(public_key, ec.EllipticCurvePublicKey) else RSAAlgorithm).to_jwk(
        public_key
    )
    return {
        "pem": public_key.public_bytes(enc.PEM, fmt.SubjectPublicKeyInfo),
        "der": public_key.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "jwk": jwk.encode(),
        "openssh": public_key.public_bytes(enc.OpenSSH, fmt.OpenSSH),
    }


@pytest.mark.sec("SEC-16")
@pytest.mark.parametrize("kid", ["ec-1", "rsa-1"])
@pytest.mark.parametrize("encoding", ["pem", "der", "jwk", "openssh"])
@pytest.mark.parametrize(("alg", "digest"), [("HS256", "sha256"), ("HS384", "sha384"), ("HS512", "sha512")])
def test_hmac_signed_with_the_public_key_is_rejected(
    verifier: JwtVerifier, keys: dict[str, VerificationKey], kid: str, encoding: str, alg: str, digest: str
) -> None:
    secret = _encodings(keys[kid].public_key)[encoding]
    signing_input = f"{b64json({'alg': alg, 'typ': 'at+jwt', 'kid': kid})}.{b64json(claims())}"
    mac = hmac.new(secret, signing_input.encode(), getattr(hashlib, digest)).digest()
    assert reason(verifier, f"{signing_input}.{b64(mac)}") == "alg_mismatch"


@pytest.mark.sec("SEC-16")
def test_another_asymmetric_alg_than_the_pinned_one_is_rejected(verifier: JwtVerifier, rsa_key: Any) -> None:
    assert reason(verifier, sign(rsa_key, "RS256", "ec-1")) == "alg_mismatch"
    assert reason(verifier, sign(rsa_key, "PS256", "rsa-1")) == "alg_mismatch"


@pytest.mark.sec("SEC-16")
def test_a_key_cannot_be_pinned_to_hmac_none_or_a_foreign_key_type(ec_key: Any, rsa_key: Any) -> None:
    for alg in ("HS256", "none", "es256"):
        with pytest.raises(ValueError):
            VerificationKey("k", alg, ec_key.public_key())
    with pytest.raises(ValueError):
        VerificationKey("k", "RS256", ec_key.public_key())
    with pytest.raises(ValueError):
        VerificationKey("k", "ES384", ec_key.public_key())  # P-256 key, P-384 algorithm
    with pytest.raises(ValueError):
        VerificationKey("k", "RS256", rsa.generate_private_key(65537, 1024).public_key())


# ------------------------------------------------------- SEC-17: embedded keys, key URLs, hostile kids


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"outbound connection attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == []


@pytest.mark.sec("SEC-17")
@pytest.mark.parametrize("kid", ["attacker", "ec-1", None])
def test_embedded_jwk_is_rejected(verifier: JwtVerifier, no_network: list[object], kid: str | None) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    embedded = ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    assert reason(verifier, sign(attacker, kid=kid, jwk=embedded)) == "unsupported_header"


@pytest.mark.sec("SEC-17")
@pytest.mark.parametrize("member", ["jku", "x5u"])
@pytest.mark.parametrize("kid", ["attacker", "ec-1"])
def test_key_urls_are_never_followed(
    verifier: JwtVerifier, no_network: list[object], member: str, kid: str
) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    token = sign(attacker, kid=kid, **{member: "https://canary.attacker.example/jwks.json"})
    assert reason(verifier, token) == "unsupported_header"


@pytest.mark.sec("SEC-17")
def test_x5c_chain_is_rejected(verifier: JwtVerifier, no_network: list[object], ec_key: Any) -> None:
    assert reason(verifier, sign(ec_key, x5c=["MIIB"])) == "unsupported_header"


@pytest.mark.sec("SEC-17")
@pytest.mark.parametrize("kid", ["../../dev/null", "' OR '1'='1", "unknown", "", "ec-1\x00"])
def test_hostile_or_unknown_kid_is_rejected(
    verifier: JwtVerifier, no_network: list[object], ec_key: Any, kid: str
) -> None:
    assert reason(verifier, sign(ec_key, kid=kid)) == "unknown_kid"


@pytest.mark.sec("SEC-17")
def test_attacker_signature_under_our_kid_is_rejected(
    verifier: JwtVerifier, no_network: list[object]
) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    assert reason(verifier, sign(attacker, kid="ec-1")) == "bad_signature"


@pytest.mark.sec("SEC-17")
def test_missing_or_non_string_kid_is_rejected(verifier: JwtVerifier, ec_key: Any) -> None:
    assert reason(verifier, sign(ec_key, kid=None)) == "malformed"
    forged = f"{b64json({'alg': 'ES256', 'typ': 'at+jwt', 'kid': 7})}.{b64json(claims())}.{b64(b'x' * 64)}"
    assert reason(verifier, forged) == "malformed"


# --------------------------------------------------------------------------------------- SEC-18: time


@pytest.mark.sec("SEC-18")
def test_exp_leeway_is_60_seconds(verifier: JwtVerifier, ec_key: Any) -> None:
    assert verifier.verify(sign(ec_key, body=claims(exp=NOW - 59, iat=NOW - 600)))
    assert reason(verifier, sign(ec_key, body=claims(exp=NOW - 61, iat=NOW - 600))) == "expired"


@pytest.mark.sec("SEC-18")
def test_nbf_in_the_future_beyond_leeway_is_rejected(verifier: JwtVerifier, ec_key: Any) -> None:
    assert verifier.verify(sign(ec_key, body=claims(nbf=NOW + 59)))
    assert reason(verifier, sign(ec_key, body=claims(nbf=NOW + 61))) == "not_yet_valid"


@pytest.mark.sec("SEC-18")
@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "sub"])
def test_required_claims(verifier: JwtVerifier, ec_key: Any, missing: str) -> None:
    assert reason(verifier, sign(ec_key, body=claims(**{missing: None}))) == f"missing_{missing}"


@pytest.mark.sec("SEC-18")
@pytest.mark.parametrize("iat", [NOW + 61, NOW + 86_400 * 365])
def test_iat_in_the_future_is_rejected(verifier: JwtVerifier, ec_key: Any, iat: int) -> None:
    assert reason(verifier, sign(ec_key, body=claims(iat=iat, exp=iat + 600))) == "issued_in_future"


@pytest.mark.sec("SEC-18")
@pytest.mark.parametrize("exp", ["2100-01-01", True, float("inf"), float("nan"), None])
def test_non_numeric_times_are_rejected(verifier: JwtVerifier, ec_key: Any, exp: Any) -> None:
    body = claims()
    body["exp"] = exp
    assert reason(verifier, sign(ec_key, body=body)) == "malformed"


@pytest.mark.sec("SEC-18")
def test_huge_integer_times_do_not_crash(verifier: JwtVerifier, ec_key: Any) -> None:
    assert verifier.verify(sign(ec_key, body=claims(exp=10**400)))["exp"] == 10**400
    assert reason(verifier, sign(ec_key, body=claims(iat=10**400))) == "issued_in_future"


@pytest.mark.sec("SEC-18")
def test_the_injected_clock_decides(verifier: JwtVerifier, clock: FrozenClock, ec_key: Any) -> None:
    token = sign(ec_key)
    assert verifier.verify(token)
    clock.advance(660)
    assert reason(verifier, token) == "expired"


@pytest.mark.sec("SEC-18")
@pytest.mark.parametrize("leeway", [-1, 61, 300])
def test_leeway_is_capped(keys: dict[str, VerificationKey], leeway: int) -> None:
    with pytest.raises(ValueError):
        JwtVerifier(ISS, AUD, keys, leeway=leeway)


# ---------------------------------------------------------------------------- SEC-19: audience, issuer


@pytest.mark.sec("SEC-19")
@pytest.mark.parametrize("aud", ["https://api-b.example", None, ["https://api-b.example"], [], 5, [AUD[:-1]]])
def test_wrong_or_missing_audience_is_rejected(verifier: JwtVerifier, ec_key: Any, aud: Any) -> None:
    body = claims()
    body["aud"] = aud
    if aud is None:
        del body["aud"]
    assert reason(verifier, sign(ec_key, body=body)) == "wrong_audience"


@pytest.mark.sec("SEC-19")
def test_audience_lists(keys: dict[str, VerificationKey], ec_key: Any) -> None:
    verifier = JwtVerifier(ISS, [AUD, "https://api-c.example"], keys, clock=FrozenClock(NOW))
    assert verifier.verify(sign(ec_key, body=claims(aud=["https://other.example", AUD])))
    assert verifier.verify(sign(ec_key, body=claims(aud="https://api-c.example")))
    assert reason(verifier, sign(ec_key, body=claims(aud=["https://other.example"]))) == "wrong_audience"


@pytest.mark.sec("SEC-19")
@pytest.mark.parametrize(
    "iss",
    [
        "https://as.example.evil",
        "https://as.example/extra",
        "http://as.example",
        "http",
        "https://AS.example",
        "https://as.example/",
        ["https://as.example"],
        "",
    ],
)
def test_issuer_must_match_exactly(verifier: JwtVerifier, ec_key: Any, iss: Any) -> None:
    assert reason(verifier, sign(ec_key, body=claims(iss=iss))) == "wrong_issuer"


# ----------------------------------------------------------------------------- SEC-20: type confusion


@pytest.mark.sec("SEC-20")
@pytest.mark.parametrize(
    "typ", ["AT+JWT", "at+JWT", "JWT", "jwt", None, "application/AT+JWT", "logout+jwt", ""]
)
def test_typ_is_compared_case_sensitively(verifier: JwtVerifier, ec_key: Any, typ: str | None) -> None:
    assert reason(verifier, sign(ec_key, typ=typ)) == "wrong_typ"


@pytest.mark.sec("SEC-20")
def test_media_type_form_of_at_jwt_is_accepted(verifier: JwtVerifier, ec_key: Any) -> None:
    assert verifier.verify(sign(ec_key, typ="application/at+jwt"))


@pytest.mark.sec("SEC-20")
def test_id_token_mode_refuses_explicitly_typed_tokens(keys: dict[str, VerificationKey], ec_key: Any) -> None:
    id_verifier = JwtVerifier(ISS, "client-1", keys, expected_typ=None, clock=FrozenClock(NOW))
    body = claims(aud="client-1")
    assert id_verifier.verify(sign(ec_key, body=body, typ="JWT"))
    assert id_verifier.verify(sign(ec_key, body=body, typ=None))
    assert reason(id_verifier, sign(ec_key, body=body)) == "wrong_typ"  # at+jwt
    assert reason(id_verifier, sign(ec_key, body=body, typ="logout+jwt")) == "wrong_typ"
    logout = JwtVerifier(ISS, "client-1", keys, expected_typ="logout+jwt", clock=FrozenClock(NOW))
    assert reason(logout, sign(ec_key, body=body, typ="JWT")) == "wrong_typ"
    assert reason(logout, sign(ec_key, body=body, typ=None)) == "wrong_typ"


# ------------------------------------------------------------------------------ SEC-21: abusive input


@pytest.mark.sec("SEC-21")
@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:example:ext"], [], "exp"])
def test_any_crit_is_rejected(verifier: JwtVerifier, ec_key: Any, crit: Any) -> None:
    extension: dict[str, Any] = {"urn:example:ext": 1}
    token = sign(ec_key, crit=crit, **extension)
    assert reason(verifier, token) in {"unsupported_header", "malformed"}


@pytest.mark.sec("SEC-21")
def test_crit_that_pyjwt_would_accept_is_still_rejected(verifier: JwtVerifier, ec_key: Any) -> None:
    # PyJWT understands the b64 extension (RFC 7797); we issue no extensions, so any crit is refused.
    header = {"alg": "ES256", "kid": "ec-1", "typ": "at+jwt", "crit": ["b64"], "b64": True}
    signing_input = f"{b64json(header)}.{b64json(claims())}"
    signature = jwt.get_algorithm_by_name("ES256").sign(signing_input.encode(), ec_key)
    token = f"{signing_input}.{b64(signature)}"
    assert jwt.get_unverified_header(token)["crit"] == ["b64"]
    assert reason(verifier, token) == "unsupported_header"


@pytest.fixture
def jose_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the JOSE library is asked to parse anything."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the JOSE library was called")

    monkeypatch.setattr(jwt_verify.jws, "extract_compact", boom)
    monkeypatch.setattr(jwt_verify.jws, "validate_compact", boom)


MB = "A" * (1024 * 1024)


@pytest.mark.sec("SEC-21")
@pytest.mark.parametrize(
    "token",
    [
        f"{MB}.{b64json(claims())}.{b64(b'x' * 64)}",
        f"{b64json({'alg': 'ES256'})}.{MB}.{b64(b'x' * 64)}",
        f"{b64json({'alg': 'ES256'})}.{b64json(claims())}.{MB}",
        f"{b64json({'alg': 'ES256', 'kid': 'ec-1', 'pad': 'x' * 1500})}.{b64json(claims())}.{b64(b'x' * 64)}",
    ],
    ids=["1MB-header", "1MB-payload", "1MB-signature", "2KB-header"],
)
def test_oversized_tokens_are_refused_before_parsing(
    verifier: JwtVerifier, jose_untouched: None, token: str
) -> None:
    assert reason(verifier, token) == "too_large"


@pytest.mark.sec("SEC-21")
@pytest.mark.parametrize(
    "token",
    [
        json.dumps({"payload": b64json(claims()), "signatures": [{"protected": "e30", "signature": "AA"}]}),
        json.dumps({"payload": b64json(claims()), "protected": "e30", "signature": "AA"}),
        "eyJh.eyJi.c2ln=",
        "eyJh.eyJi.c2l+/",
        "eyJh.eyJi.c2ln ",
        " eyJh.eyJi.c2ln",
        "eyJh.eyJi.c2lné",
        "eyJh..c2ln",
        "a.b.c.d.e",
        "a.b.c.d",
        "",
        b"eyJh.eyJi.c2ln",
        None,
    ],
)
def test_non_compact_forms_and_odd_characters_are_refused_before_parsing(
    verifier: JwtVerifier, jose_untouched: None, token: Any
) -> None:
    assert reason(verifier, token) == "malformed"


@pytest.mark.sec("SEC-21")
def test_jwe_shaped_tokens_are_refused(verifier: JwtVerifier, jose_untouched: None) -> None:
    header = {"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "zip": "DEF", "p2c": 10_000_000, "p2s": "AA"}
    five = ".".join([b64json(header), "AA", "AA", "AA", "AA"])
    assert reason(verifier, five) == "malformed"


@pytest.mark.sec("SEC-21")
def test_encryption_headers_in_a_jws_are_refused(verifier: JwtVerifier, ec_key: Any) -> None:
    assert reason(verifier, sign(ec_key, enc="A128GCM")) == "unsupported_header"
    assert reason(verifier, sign(ec_key, zip="DEF")) == "unsupported_header"


@pytest.mark.sec("SEC-21")
@pytest.mark.parametrize("header", ["bm90IGpzb24", b64json([1, 2]), b64json("str"), "AAAA"])
def test_garbage_headers_are_malformed(verifier: JwtVerifier, header: str) -> None:
    assert reason(verifier, f"{header}.{b64json(claims())}.{b64(b'x' * 64)}") == "malformed"


@pytest.mark.sec("SEC-21")
def test_garbage_payload_is_malformed(verifier: JwtVerifier, ec_key: Any) -> None:
    for body in (b"not json", b"[1,2]"):
        token = jwt.api_jws.encode(body, ec_key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "ec-1"})
        assert reason(verifier, token) == "malformed"


# ------------------------------------------------------------------------------- JWKS-fed keys (SDK)


def test_verification_key_from_public_jwk(ec_key: Any) -> None:
    jwk = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "k1", "alg": "ES256", "use": "sig"}
    key = VerificationKey.from_jwk(jwk)
    verifier = JwtVerifier(ISS, AUD, {key.kid: key}, clock=FrozenClock(NOW))
    assert verifier.verify(sign(ec_key, kid="k1"))


@pytest.mark.sec("SEC-16")
def test_from_jwk_refuses_private_symmetric_or_unpinned_keys(ec_key: Any) -> None:
    public = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "k1"}
    private = {**ECAlgorithm.to_jwk(ec_key, as_dict=True), "kid": "k1", "alg": "ES256"}
    bad = [
        public,  # no alg: never trust the token to choose one
        {**public, "alg": "HS256"},
        {**public, "alg": "ES256", "use": "enc"},
        private,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "k1", "alg": "HS256"},
        {**public, "alg": "RS256"},
    ]
    for jwk in bad:
        with pytest.raises((ValueError, jwt.PyJWTError)):
            VerificationKey.from_jwk(jwk)
