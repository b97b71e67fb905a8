"""`JwtVerifier(allow_expired=True)`: every check but `exp` (an RP-initiated logout's id_token_hint
may be old, never forged — OIDC RP-Initiated Logout §2, SEC-46)."""

from __future__ import annotations

from typing import Any

import pytest
from test_jwt_verify import AUD, ISS, NOW, claims, clock, ec_key, ed_key, keys, reason, rsa_key, sign

from ostiary.core.clock import FrozenClock
from ostiary.core.jwt_verify import JwtVerifier, VerificationKey

__all__ = ["clock", "ec_key", "ed_key", "keys", "rsa_key"]  # fixtures shared with that module

LONG_AGO = claims(exp=NOW - 86_400, iat=NOW - 90_000)


@pytest.fixture
def lenient(keys: dict[str, VerificationKey], clock: FrozenClock) -> JwtVerifier:
    return JwtVerifier(ISS, AUD, keys, clock=clock, allow_expired=True)


def test_an_expired_token_passes_only_when_allowed(
    keys: dict[str, VerificationKey], clock: FrozenClock, lenient: JwtVerifier, ec_key: Any
) -> None:
    token = sign(ec_key, body=LONG_AGO)
    assert reason(JwtVerifier(ISS, AUD, keys, clock=clock), token) == "expired"
    assert lenient.verify(token)["sub"] == "user-1"


@pytest.mark.sec("SEC-46")
@pytest.mark.parametrize(
    ("body", "why"),
    [
        (claims(exp=None, iat=NOW - 90_000), "missing_exp"),
        (claims(exp="soon", iat=NOW - 90_000), "malformed"),
        (claims(exp=NOW - 86_400, iat=NOW - 90_000, nbf=NOW + 3600), "not_yet_valid"),
        (claims(exp=NOW - 86_400, iat=NOW + 3600), "issued_in_future"),
        (claims(exp=NOW - 86_400, iat=NOW - 90_000, iss="https://evil.example"), "wrong_issuer"),
        (claims(exp=NOW - 86_400, iat=NOW - 90_000, aud="https://other.example"), "wrong_audience"),
    ],
)
def test_every_other_check_still_holds(
    lenient: JwtVerifier, ec_key: Any, body: dict[str, Any], why: str
) -> None:
    assert reason(lenient, sign(ec_key, body=body)) == why


@pytest.mark.sec("SEC-46")
def test_a_forged_expired_token_is_still_refused(lenient: JwtVerifier, ec_key: Any) -> None:
    token = sign(ec_key, body=LONG_AGO)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    assert reason(lenient, forged) in {"bad_signature", "malformed"}
