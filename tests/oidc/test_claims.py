"""OIDC Core §5.4: the claims each scope releases, from the user record."""

from __future__ import annotations

import pytest

from oauth_world import user
from ostiary.oidc.claims import claims_supported, user_claims


@pytest.mark.rfc("OIDC Core §5.4")
def test_openid_alone_releases_only_sub() -> None:
    assert user_claims(user("u1"), ("openid",)) == {"sub": "u1"}


@pytest.mark.rfc("OIDC Core §5.4")
def test_profile_and_email_release_their_claims() -> None:
    record = user("u1", username="alice", email="alice@example.com", email_verified=False)
    assert user_claims(record, ("openid", "profile")) == {
        "sub": "u1",
        "preferred_username": "alice",
        "name": "alice",
        "updated_at": 1_700_000_123,  # whole seconds (§5.1)
    }
    assert user_claims(record, ("openid", "email")) == {
        "sub": "u1",
        "email": "alice@example.com",
        "email_verified": False,
    }


@pytest.mark.rfc("OIDC Core §5.3.2")
def test_a_claim_without_a_value_is_omitted_not_sent_empty() -> None:
    assert user_claims(user("u1", email=None), ("openid", "email")) == {"sub": "u1"}


def test_other_scopes_release_nothing() -> None:
    assert user_claims(user("u1"), ("openid", "items:read", "address", "phone")) == {"sub": "u1"}


def test_claims_supported_follow_the_enabled_scopes() -> None:
    assert claims_supported(["openid"]) == ("sub",)
    assert claims_supported(["openid", "profile", "email", "profile"]) == (
        "sub",
        "preferred_username",
        "name",
        "updated_at",
        "email",
        "email_verified",
    )
