"""Token scopes = requested ∩ client-allowed ∩ (user permissions ∪ protocol scopes)."""

from __future__ import annotations

from ostiary.policy import PROTOCOL_SCOPES, granted_scopes, scope_covers


def test_granted_scopes_is_the_intersection() -> None:
    granted = granted_scopes(
        requested=["openid", "profile", "view:food", "edit:food", "delete:food"],
        client_allowed=["openid", "view:food", "edit:food", "delete:food"],
        user_permissions=["view:food", "edit:food", "add:food"],
    )
    assert granted == {"openid", "view:food", "edit:food"}  # profile: client; delete:food: user


def test_protocol_scopes_need_no_permission_but_still_the_client() -> None:
    assert {"openid", "profile", "email", "offline_access"} == PROTOCOL_SCOPES
    assert granted_scopes(["offline_access"], ["offline_access"], []) == {"offline_access"}
    assert granted_scopes(["offline_access"], [], []) == frozenset()
    assert granted_scopes(["openid"], ["openid"], [], always_allowed=()) == frozenset()


def test_role_names_are_not_scopes() -> None:
    assert granted_scopes(["admin"], ["admin"], ["posts:delete"]) == frozenset()


def test_scope_covers() -> None:
    assert scope_covers(None, "posts:update")
    assert scope_covers(frozenset({"posts:update"}), "posts:update")
    assert not scope_covers(frozenset({"posts:read"}), "posts:update")
