"""The seeds' three examples as decision tables: /items (001), /posts (004), /food (000).

These double as the reference realm for the demo API: route → action, resource → ``Resource``.
401 (no subject) is the web layer's job; here every caller is known, so a refusal is a 403.
"""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.policy import PolicyEngine, Resource, Subject, granted_scopes

SEED_REALM: dict[str, Any] = {
    "permissions": {
        "items:read": "Read items",
        "posts:read": "Read posts", "posts:create": "Create posts",
        "posts:update": "Update posts", "posts:delete": "Delete posts",
        "view:food": "View food", "add:food": "Add food", "edit:food": "Edit food", "delete:food": "Delete food",
    },
    "roles": {
        "viewer": {"permissions": ["items:read", "posts:read"]},
        "editor": {"permissions": ["posts:create", "posts:update"], "includes": ["viewer"]},
        "admin": {"permissions": ["posts:delete"], "includes": ["editor"]},
        "food-reader": {"permissions": ["view:food"]},
        "food-cook": {"permissions": ["add:food", "edit:food"], "includes": ["food-reader"]},
        "food-manager": {"permissions": ["delete:food"], "includes": ["food-cook"]},
    },
    "groups": {
        "kitchen": {"roles": ["food-reader"]},
        "kitchen-paris": {"parent": "kitchen", "roles": ["food-cook"]},
        "kitchen-lyon": {"parent": "kitchen"},
    },
    "policies": [
        {"id": "edit-own-posts", "effect": "allow", "actions": ["posts:update"], "requires_permission": True,
         "when": {"eq": ["subject.id", "resource.owner"]},
         "description": "editors update only their own posts"},
        {"id": "food-of-my-groups", "effect": "allow", "requires_permission": True,
         "actions": ["view:food", "add:food", "edit:food", "delete:food"],
         "when": {"in": ["resource.group", "subject.groups"]},
         "description": "food is visible and editable only within the groups it belongs to"},
    ],
}  # fmt: skip
ENGINE = PolicyEngine.from_data(SEED_REALM)

ADMIN = Subject.of("a", roles=["admin"])
EDITOR = Subject.of("e", roles=["editor"])
VIEWER = Subject.of("v", roles=["viewer"])
STRANGER = Subject.of("s")
PARIS_COOK = Subject.of("p", groups=["kitchen-paris"])
LYON_MEMBER = Subject.of("l", groups=["kitchen-lyon"])
LYON_MANAGER = Subject.of("m", roles=["food-manager"], groups=["kitchen-lyon"])


@pytest.mark.parametrize(
    ("subject", "allowed"), [(ADMIN, True), (EDITOR, True), (VIEWER, True), (STRANGER, False)]
)
def test_items_are_readable_by_admin_editor_and_viewer(subject: Subject, allowed: bool) -> None:
    assert ENGINE.decide(subject, "items:read").allowed is allowed


def own(owner: str) -> Resource:
    return Resource.of("posts", 1, owner=owner)


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed", "reason"),
    [
        (VIEWER, "posts:read", None, True, "role:viewer grants posts:read"),
        (VIEWER, "posts:create", None, False, "default-deny"),
        (VIEWER, "posts:update", own("v"), False, "default-deny"),
        (EDITOR, "posts:create", None, True, "role:editor grants posts:create"),
        (EDITOR, "posts:update", own("e"), True, "role:editor grants posts:update + rule:edit-own-posts"),
        (EDITOR, "posts:update", own("someone"), False, "default-deny"),
        (EDITOR, "posts:delete", own("e"), False, "default-deny"),
        (ADMIN, "posts:delete", own("someone"), True, "role:admin grants posts:delete"),
        (ADMIN, "posts:read", None, True, "role:admin grants posts:read"),
        (STRANGER, "posts:read", None, False, "default-deny"),
    ],
)
def test_posts(subject: Subject, action: str, resource: Resource | None, allowed: bool, reason: str) -> None:
    decision = ENGINE.decide(subject, action, resource)
    assert (decision.allowed, decision.reason) == (allowed, reason)


def food(group: str) -> Resource:
    return Resource.of("food", 1, group=group)


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed"),
    [
        (PARIS_COOK, "view:food", food("kitchen-paris"), True),
        (PARIS_COOK, "view:food", food("kitchen"), True),  # the parent group's food too
        (PARIS_COOK, "view:food", food("kitchen-lyon"), False),  # not a sibling's
        (PARIS_COOK, "edit:food", food("kitchen-paris"), True),
        (PARIS_COOK, "delete:food", food("kitchen-paris"), False),  # no permission
        (LYON_MEMBER, "view:food", food("kitchen-lyon"), True),
        (LYON_MEMBER, "add:food", food("kitchen-lyon"), False),
        (LYON_MANAGER, "delete:food", food("kitchen-lyon"), True),
        (LYON_MANAGER, "delete:food", food("kitchen-paris"), False),
        (LYON_MANAGER, "view:food", None, False),  # group-filtered actions need the resource
        (STRANGER, "view:food", food("kitchen"), False),
    ],
)
def test_food_is_filtered_by_group(
    subject: Subject, action: str, resource: Resource | None, allowed: bool
) -> None:
    assert ENGINE.decide(subject, action, resource).allowed is allowed


@pytest.mark.sec("SEC-55")
def test_food_token_scopes_are_the_intersection_and_bound_each_call() -> None:
    cook_perms = ENGINE.effective_permissions(PARIS_COOK)
    scopes = granted_scopes(
        requested=["openid", "view:food", "edit:food", "delete:food"],
        client_allowed=["openid", "view:food", "edit:food", "delete:food"],
        user_permissions=cook_perms,
    )
    assert scopes == {"openid", "view:food", "edit:food"}
    read_only = Subject.of("p", groups=["kitchen-paris"], scopes=["openid", "view:food"])
    assert ENGINE.decide(read_only, "view:food", food("kitchen-paris")).allowed
    refused = ENGINE.decide(read_only, "edit:food", food("kitchen-paris"))
    assert (refused.allowed, refused.reason) == (False, "insufficient_scope")
