"""OpenID Connect Core §5.4 and §5.1: the standard claims a scope grants, from the user record.

`sub` is the user's id: assigned once and never reused, so a user deleted and re-created with the
same email gets a new `sub` (SEC-43). The user record has no display name, so `name` is the
username (the same value as `preferred_username`); a claim the record does not know (an email that
was never given) is omitted rather than sent empty, as §5.3.2 asks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ostiary.storage.interfaces.users import UserRecord

# §5.4, limited to the claims a user record can answer. `address` and `phone` are not offered.
SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    "profile": ("preferred_username", "name", "updated_at"),
    "email": ("email", "email_verified"),
}


def claims_supported(scopes: Iterable[str]) -> tuple[str, ...]:
    """The user claims that `scopes` can release, for discovery (`sub` always)."""
    names = ["sub"]
    for scope in scopes:
        names.extend(c for c in SCOPE_CLAIMS.get(scope, ()) if c not in names)
    return tuple(names)


def user_claims(user: UserRecord, scope: Iterable[str]) -> dict[str, Any]:
    """`sub` plus the claims of the granted `scope` that the record has a value for."""
    granted = frozenset(scope)
    claims: dict[str, Any] = {"sub": user.id}
    if "profile" in granted:
        claims["preferred_username"] = user.username
        claims["name"] = user.username
        claims["updated_at"] = math.floor(user.updated_at)  # §5.1: seconds since the epoch
    if "email" in granted and user.email is not None:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified
    return claims
