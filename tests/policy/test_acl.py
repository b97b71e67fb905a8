"""ACL tuples: implied relations, per-type schemas, group tuples through nested groups."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.policy import AclIndex, AclTuple, PolicyEngine, PolicyError, Resource, Subject

ACL = AclIndex.from_data(
    {
        "actions": {
            "posts:read": "viewer",
            "posts:update": "editor",
            "posts:delete": "owner",
            "docs:sign": "signer",
        },
        "relations": {"docs": {"signer": ["reader"], "reader": []}},
        "tuples": [
            ["user:1", "owner", "posts:7"],
            ["user:2", "viewer", "posts:7"],
            ["group:eng", "editor", "posts:8"],
            ["client:ci", "viewer", "posts:8"],
            ["user:3", "signer", "docs:1"],
        ],
    }
)


@pytest.mark.parametrize(
    ("subject", "groups", "action", "resource", "expected"),
    [
        ("user:1", (), "posts:delete", ("posts", "7"), "user:1 owner posts:7"),
        ("user:1", (), "posts:update", ("posts", "7"), "user:1 owner posts:7"),  # owner => editor
        ("user:1", (), "posts:read", ("posts", "7"), "user:1 owner posts:7"),  # => viewer
        ("user:2", (), "posts:read", ("posts", "7"), "user:2 viewer posts:7"),
        ("user:2", (), "posts:update", ("posts", "7"), None),  # viewer does not imply editor
        ("user:1", (), "posts:read", ("posts", "8"), None),  # other resource
        ("user:9", ("eng",), "posts:update", ("posts", "8"), "group:eng editor posts:8"),
        ("user:9", ("eng",), "posts:delete", ("posts", "8"), None),
        ("client:ci", (), "posts:read", ("posts", "8"), "client:ci viewer posts:8"),
        ("user:3", (), "docs:sign", ("docs", "1"), "user:3 signer docs:1"),
        ("user:1", (), "posts:share", ("posts", "7"), None),  # action mapped to no relation
    ],
)
def test_check(
    subject: str, groups: tuple[str, ...], action: str, resource: tuple[str, str], expected: str | None
) -> None:
    match = ACL.check(subject, groups, action, *resource)
    assert (str(match.tuple) if match else None) == expected


def test_group_tuples_reach_members_of_descendant_groups_through_the_engine() -> None:
    engine = PolicyEngine.from_data(
        {
            "groups": {"eng": {}, "eng-backend": {"parent": "eng"}},
            "acl": {"actions": {"posts:update": "editor"}, "tuples": [["group:eng", "editor", "posts:8"]]},
        }
    )
    member = Subject.of("5", groups=["eng-backend"])
    decision = engine.decide(member, "posts:update", Resource.of("posts", 8))
    assert decision.allowed
    assert decision.reason == "acl:group:eng editor posts:8"
    outsider = Subject.of("6")
    assert not engine.decide(outsider, "posts:update", Resource.of("posts", 8)).allowed


def test_api_key_subjects_match_their_users_tuples_and_clients_their_own() -> None:
    assert Subject.of("1", kind="api_key").ref == "user:1"
    assert Subject.of("ci", kind="client").ref == "client:ci"


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"tuples": [["user:1", "owner"]]}, "acl.tuples[0]", "tuple is"),
        ({"tuples": [["robot:1", "owner", "posts:1"]]}, "acl.tuples[0][0]", "unknown subject kind"),
        ({"tuples": [["user1", "owner", "posts:1"]]}, "acl.tuples[0][0]", "not '<type>:<id>'"),
        ({"tuples": [["user:1", "owner", "posts"]]}, "acl.tuples[0][2]", "not '<type>:<id>'"),
        ({"tuples": [["user:1", "admin", "posts:1"]]}, "acl.tuples[0][1]", "unknown relation"),
        ({"actions": {"posts:read": "reader"}}, "acl.actions.posts:read", "unknown relation"),
        ({"relations": {"docs": {"a": ["b"]}}}, "acl.relations.docs.a", "unknown relation"),
        (
            {"relations": {"docs": {"a": ["b"], "b": ["a"]}}},
            "acl.relations.docs.a",
            "relation cycle: a -> b -> a",
        ),
        ({"tupels": []}, "acl.tupels", "unknown key"),
    ],
)
def test_bad_acl_data_names_the_path(data: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        AclIndex.from_data(data)
    assert info.value.field == path


def test_tuples_render_as_text() -> None:
    assert str(AclTuple("user:1", "owner", "posts:7")) == "user:1 owner posts:7"
    assert len(ACL) == 5
