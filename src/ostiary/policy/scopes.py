"""OAuth scopes as permissions: what a token may carry and whether it covers an action (RFC 6749 §3.3).

A permission name is a scope. A token's scopes are the intersection of what was asked for, what the
client may ask for, and what the user may do — plus the protocol scopes (``openid``, …), which name no
permission. Role and group names never become scopes; they travel only as claims for UIs.
"""

from __future__ import annotations

from collections.abc import Iterable

PROTOCOL_SCOPES: frozenset[str] = frozenset({"openid", "profile", "email", "offline_access"})


def granted_scopes(
    requested: Iterable[str],
    client_allowed: Iterable[str],
    user_permissions: Iterable[str],
    always_allowed: Iterable[str] = PROTOCOL_SCOPES,
) -> frozenset[str]:
    """``requested ∩ client_allowed ∩ (user_permissions ∪ always_allowed)``.

    ``always_allowed`` are the scopes a user may always consent to (they grant no permission); the
    client must still be allowed them. For a client acting for itself (client credentials), pass the
    client's own effective permissions as ``user_permissions``.
    """
    user = frozenset(user_permissions) | frozenset(always_allowed)
    return frozenset(requested) & frozenset(client_allowed) & user


def scope_covers(scopes: frozenset[str] | None, action: str) -> bool:
    """True when the caller has no scopes (a first-party session) or the action is one of them."""
    return scopes is None or action in scopes
