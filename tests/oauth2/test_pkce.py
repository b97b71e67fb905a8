"""RFC 7636: PKCE, S256 only (SEC-27, SEC-28)."""

from __future__ import annotations

import pytest

from ostiary.oauth2.errors import InvalidGrant, InvalidRequest
from ostiary.oauth2.pkce import (
    CODE_CHALLENGE_METHODS_SUPPORTED,
    check_code_challenge,
    s256_challenge,
    verify_code_verifier,
)

from ._support import CHALLENGE, VERIFIER


@pytest.mark.rfc("RFC 7636 Appendix B")
def test_s256_matches_the_rfc_example() -> None:
    assert s256_challenge(VERIFIER) == CHALLENGE


@pytest.mark.sec("SEC-27")
@pytest.mark.rfc("RFC 7636 §4.3")
def test_only_s256_is_supported() -> None:
    assert CODE_CHALLENGE_METHODS_SUPPORTED == ("S256",)
    assert check_code_challenge(CHALLENGE, "S256") == "S256"


@pytest.mark.sec("SEC-27")
@pytest.mark.rfc("RFC 7636 §4.4.1")
@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        (None, None),
        (None, "S256"),
        (CHALLENGE, None),  # absent method means plain
        (CHALLENGE, "plain"),
        (CHALLENGE, "s256"),
        (VERIFIER, "plain"),
        ("short", "S256"),
        (CHALLENGE + "=", "S256"),
        (CHALLENGE[:-1] + "+", "S256"),
    ],
)
def test_bad_challenges_are_invalid_request(challenge: str | None, method: str | None) -> None:
    with pytest.raises(InvalidRequest):
        check_code_challenge(challenge, method)


@pytest.mark.rfc("RFC 7636 §4.6")
def test_the_right_verifier_passes() -> None:
    verify_code_verifier(VERIFIER, CHALLENGE, "S256")
    for length in (43, 128):
        verifier = "a" * length
        verify_code_verifier(verifier, s256_challenge(verifier), "S256")


@pytest.mark.sec("SEC-28")
@pytest.mark.rfc("RFC 7636 §4.1")
@pytest.mark.parametrize(
    "verifier", ["a" * 42, "a" * 129, VERIFIER[:-1] + "!", VERIFIER[:-1] + " ", "é" * 43]
)
def test_malformed_verifiers_are_invalid_request(verifier: str) -> None:
    with pytest.raises(InvalidRequest):
        verify_code_verifier(verifier, CHALLENGE, "S256")


@pytest.mark.sec("SEC-28")
@pytest.mark.rfc("RFC 7636 §4.6")
def test_missing_or_wrong_verifiers_are_invalid_grant() -> None:
    with pytest.raises(InvalidGrant):
        verify_code_verifier(None, CHALLENGE, "S256")
    with pytest.raises(InvalidGrant):
        verify_code_verifier("b" * 43, CHALLENGE, "S256")
    with pytest.raises(InvalidGrant):
        verify_code_verifier(VERIFIER, CHALLENGE, "plain")


@pytest.mark.sec("SEC-28")
@pytest.mark.rfc("RFC 9700 §4.8.2")
def test_a_verifier_for_a_code_without_challenge_is_a_downgrade() -> None:
    with pytest.raises(InvalidGrant):
        verify_code_verifier(VERIFIER, None, None)
    verify_code_verifier(None, None, None)
