"""Plain data to an RBAC model, with the path of a bad key in the error."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.policy import PolicyError, RbacModel


def test_mapping_and_list_forms_load_the_same() -> None:
    as_map = RbacModel.from_data(
        {
            "permissions": {"posts:read": "Read posts", "posts:update": None},
            "roles": {"viewer": {"permissions": ["posts:read"]}, "editor": {"includes": ["viewer"]}},
            "groups": {"staff": {"roles": ["viewer"]}, "eu": {"parent": "staff"}},
        }
    )
    as_list = RbacModel.from_data(
        {
            "permissions": ["posts:read", "posts:update"],
            "roles": [
                {"name": "viewer", "permissions": ["posts:read"]},
                {"name": "editor", "includes": ["viewer"]},
            ],
            "groups": [{"name": "staff", "roles": ["viewer"]}, {"name": "eu", "parent": "staff"}],
        }
    )
    for model in (as_map, as_list):
        assert model.effective_permissions(frozenset({"editor"})) == {"posts:read"}
        assert model.effective_permissions(frozenset(), frozenset({"eu"})) == {"posts:read"}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"roles": {"a": {"permisions": []}}}, "roles.a.permisions"),
        ({"roles": {"a": {"permissions": "posts:read"}}}, "roles.a.permissions"),
        ({"roles": {"a": {"permissions": ["ok", "bad scope"]}}}, "roles.a.permissions[1]"),
        ({"roles": [{"permissions": []}]}, "roles[0]"),
        ({"groups": {"g": {"parent": 3}}}, "groups.g.parent"),
        ({"groups": {"g": {"roles": ["ghost"]}}}, "groups.g.roles"),
        ({"permissions": {"x": 1}}, "permissions.x"),
        ({"roles": "viewer"}, "roles"),
    ],
)
def test_errors_name_the_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(PolicyError) as info:
        RbacModel.from_data(data)
    assert info.value.field == path
    assert info.value.message.startswith(path)
