"""RFC 9068 §2.2 / RFC 7662 §2.2: `TokenInfo` from verified claims or an introspection answer."""

from __future__ import annotations

import math

import pytest

from ostiary.sdk import TokenInfo


def test_claims_of_an_ostiary_access_token() -> None:
    claims = {
        "iss": "https://id.example.com",
        "sub": "u-1",
        "aud": "https://id.example.com",
        "exp": 1_800_000_600,
        "iat": 1_800_000_000,
        "jti": "j-1",
        "client_id": "ostiary",
        "scope": "items:read  posts:read",
        "preferred_username": "carol",
        "sid": "family-1",
    }
    info = TokenInfo.from_claims(claims)
    assert info.subject == "u-1"
    assert info.scopes == info.permissions == {"items:read", "posts:read"}
    assert info.audience == ("https://id.example.com",)
    assert (info.expires_at, info.issued_at, info.token_id) == (1_800_000_600, 1_800_000_000, "j-1")
    assert info.username == "carol"
    assert info.claims["sid"] == "family-1"
    with pytest.raises(TypeError):
        info.claims["sub"] = "someone else"  # type: ignore[index]
    assert info.missing_scopes(["items:read", "items:write"]) == ["items:write"]


def test_introspection_answer_fields_and_explicit_permissions() -> None:
    info = TokenInfo.from_claims(
        {"active": True, "sub": "client:svc", "username": "svc", "aud": ["a", "b"], "permissions": ["p:1"]}
    )
    assert info.username == "svc"
    assert info.audience == ("a", "b")
    assert info.scopes == frozenset()
    assert info.permissions == {"p:1"}
    assert info.missing_permissions(["p:1", "p:2"]) == ["p:2"]


@pytest.mark.parametrize(
    "claims",
    [{}, {"sub": ""}, {"sub": 42}, {"sub": None}],
)
def test_no_subject_no_token_info(claims: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TokenInfo.from_claims(claims)


def test_odd_claim_types_grant_nothing() -> None:
    info = TokenInfo.from_claims(
        {
            "sub": "u",
            "scope": ["items:read"],
            "aud": [1, "x"],
            "exp": math.inf,
            "iat": True,
            "permissions": "x",
        }
    )
    assert info.scopes == info.permissions == frozenset()
    assert info.audience == ()
    assert info.expires_at is None and info.issued_at is None
