"""RBAC model: validation (unknown references, cycles) and effective grants."""

from __future__ import annotations

import pytest

from ostiary.core.errors import ValidationFailed
from ostiary.policy import Group, Permission, PolicyError, RbacModel, Role


def role(name: str, perms: tuple[str, ...] = (), includes: tuple[str, ...] = ()) -> Role:
    return Role(name, frozenset(perms), frozenset(includes))


def group(name: str, roles: tuple[str, ...] = (), parent: str | None = None) -> Group:
    return Group(name, frozenset(roles), parent)


MODEL = RbacModel.build(
    [
        role("viewer", ("items:read", "posts:read")),
        role("editor", ("posts:create", "posts:update"), includes=("viewer",)),
        role("admin", ("posts:delete",), includes=("editor",)),
        role("auditor", ("audit:read",)),
    ],
    [
        group("staff", ("viewer",)),
        group("staff-eu", ("auditor",), parent="staff"),
        group("staff-eu-paris", parent="staff-eu"),
    ],
)


def test_policy_error_is_a_validation_error() -> None:
    assert issubclass(PolicyError, ValidationFailed)


def test_role_inclusion_cycle_is_rejected_and_named() -> None:
    with pytest.raises(PolicyError, match=r"role cycle: a -> b -> c -> a"):
        RbacModel.build([role("a", includes=("b",)), role("b", includes=("c",)), role("c", includes=("a",))])


def test_self_including_role_is_a_cycle() -> None:
    with pytest.raises(PolicyError, match=r"role cycle: a -> a"):
        RbacModel.build([role("a", includes=("a",))])


def test_group_nesting_cycle_is_rejected_and_named() -> None:
    with pytest.raises(PolicyError, match=r"group cycle: x -> y -> x"):
        RbacModel.build([], [group("x", parent="y"), group("y", parent="x")])


@pytest.mark.parametrize(
    ("roles", "groups", "message"),
    [
        ([role("a", includes=("ghost",))], [], "unknown role 'ghost'"),
        ([], [group("g", ("ghost",))], "unknown role 'ghost'"),
        ([], [group("g", parent="ghost")], "unknown parent group 'ghost'"),
        ([role("a"), role("a")], [], "duplicate role 'a'"),
        ([role("a", ("has space",))], [], "invalid permission name"),
    ],
)
def test_bad_references_are_rejected(roles: list[Role], groups: list[Group], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        RbacModel.build(roles, groups)


def test_permission_catalogue_is_enforced_when_given() -> None:
    with pytest.raises(PolicyError, match="unknown permission 'posts:nuke'") as info:
        RbacModel.build([role("a", ("posts:nuke",))], permissions=[Permission("posts:read")])
    assert info.value.field == "roles.a.permissions"


def test_composite_roles_are_transitive() -> None:
    assert MODEL.role_permissions("admin") == {
        "posts:delete", "posts:create", "posts:update", "items:read", "posts:read"
    }  # fmt: skip
    grants = MODEL.grants(frozenset({"admin"}))
    assert grants.roles == {"admin", "editor", "viewer"}
    assert grants.granted_by["posts:read"] == "admin"  # the first effective role in name order


def test_child_group_members_inherit_the_ancestors_roles() -> None:
    grants = MODEL.grants(frozenset(), frozenset({"staff-eu-paris"}))
    assert grants.groups == {"staff-eu-paris", "staff-eu", "staff"}
    assert grants.roles == {"viewer", "auditor"}
    assert grants.permissions == {"items:read", "posts:read", "audit:read"}


def test_roles_never_flow_up_from_a_child_group() -> None:
    assert "audit:read" not in MODEL.effective_permissions(frozenset(), frozenset({"staff"}))


def test_direct_roles_and_group_roles_are_united() -> None:
    perms = MODEL.effective_permissions(frozenset({"editor"}), frozenset({"staff-eu"}))
    assert perms == {"posts:create", "posts:update", "items:read", "posts:read", "audit:read"}


@pytest.mark.sec("SEC-59")
def test_unknown_roles_and_groups_grant_nothing() -> None:
    assert MODEL.effective_permissions(frozenset({"root", "superuser"}), frozenset({"wheel"})) == frozenset()


def test_lookups_are_cached_and_equal() -> None:
    a = MODEL.grants(frozenset({"editor"}), frozenset({"staff"}))
    b = MODEL.grants(frozenset({"editor"}), frozenset({"staff"}))
    assert a is b
