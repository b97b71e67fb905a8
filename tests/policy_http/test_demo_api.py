"""The seeds' examples through HTTP: 401 for the unknown caller, 403 for the known one without the
right, 2xx for the right one (seed 004); owners edit their own posts; food filtered by group."""

from __future__ import annotations

import pytest
from demo_support import AsUser, user_id

from helpers import Harness, audit_rows


@pytest.mark.sec("SEC-55")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/items", None),
        ("POST", "/items", {"name": "saw"}),
        ("GET", "/posts", None),
        ("POST", "/posts", {"title": "t"}),
        ("PATCH", "/posts/1", {"title": "t"}),
        ("DELETE", "/posts/1", None),
        ("GET", "/food", None),
        ("POST", "/food", {"name": "tea", "group": "staff"}),
        ("DELETE", "/food/1", None),
        ("GET", "/admin/roles", None),
        ("PUT", "/admin/policies/x", {"effect": "allow", "actions": ["a:b"]}),
        ("GET", "/admin/policy/explain?user=bob&action=items:read", None),
    ],
)
async def test_unknown_caller_gets_401(demo: Harness, method: str, path: str, body: object) -> None:
    response = await demo.http.request(method, path, json=body)
    assert response.status_code == 401, response.text


@pytest.mark.sec("SEC-55")
@pytest.mark.parametrize(
    ("username", "method", "path", "body", "status"),
    [
        ("dave", "GET", "/items", None, 403),  # known, no role
        ("carol", "GET", "/items", None, 200),  # viewer
        ("bob", "GET", "/items", None, 200),  # editor
        ("alice", "GET", "/items", None, 200),  # admin
        ("carol", "POST", "/items", {"name": "saw"}, 403),
        ("bob", "POST", "/items", {"name": "saw"}, 201),
        ("dave", "GET", "/posts", None, 403),
        ("carol", "GET", "/posts", None, 200),
        ("carol", "POST", "/posts", {"title": "mine"}, 403),
        ("bob", "POST", "/posts", {"title": "mine"}, 201),
        ("alice", "POST", "/posts", {"title": "mine"}, 201),
        ("dave", "GET", "/food", None, 403),
        ("carol", "GET", "/food", None, 200),
        ("carol", "POST", "/food", {"name": "tea", "group": "staff"}, 403),
        ("bob", "POST", "/food", {"name": "tea", "group": "kitchen"}, 201),
        ("bob", "POST", "/food", {"name": "tea", "group": "elsewhere"}, 403),  # not his group
        ("bob", "DELETE", "/food/1", None, 403),  # no delete:food
        ("alice", "DELETE", "/food/3", None, 204),  # staff food, alice is staff
        ("alice", "DELETE", "/food/1", None, 403),  # kitchen food: not alice's group
        ("bob", "GET", "/admin/roles", None, 403),
        ("alice", "GET", "/admin/roles", None, 200),
    ],
)
async def test_roles_decide(
    as_user: AsUser, username: str, method: str, path: str, body: object, status: int
) -> None:
    client, _ = await as_user(username)
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text


async def test_food_is_filtered_by_group(as_user: AsUser) -> None:
    seen = {}
    for username in ("alice", "bob", "carol"):
        client, _ = await as_user(username)
        response = await client.get("/food")
        assert response.status_code == 200
        seen[username] = sorted(f["name"] for f in response.json()["food"])
    assert seen == {"alice": ["coffee"], "bob": ["bread", "coffee", "soup"], "carol": []}


async def test_editors_update_only_their_own_posts_and_admins_delete_any(
    demo: Harness, as_user: AsUser
) -> None:
    bob, _ = await as_user("bob")
    alice, _ = await as_user("alice")
    carol, _ = await as_user("carol")
    mine = (await bob.post("/posts", json={"title": "bob's"})).json()
    theirs = (await alice.post("/posts", json={"title": "alice's"})).json()
    assert mine["owner"] == await user_id(demo, "bob")

    assert (await bob.patch(f"/posts/{mine['id']}", json={"title": "edited"})).json()["title"] == "edited"
    assert (await bob.patch(f"/posts/{theirs['id']}", json={"title": "x"})).status_code == 403
    assert (await carol.patch(f"/posts/{mine['id']}", json={"title": "x"})).status_code == 403
    assert (await bob.delete(f"/posts/{mine['id']}")).status_code == 403  # editors do not delete
    assert (await bob.patch("/posts/99999", json={"title": "x"})).status_code == 404
    assert (await alice.delete(f"/posts/{mine['id']}")).status_code == 204  # admins delete any
    assert (await carol.get("/posts")).json()["posts"] == [theirs]


@pytest.mark.sec("SEC-57")
async def test_the_owner_of_a_post_cannot_be_sent(as_user: AsUser) -> None:
    bob, _ = await as_user("bob")
    post = (await bob.post("/posts", json={"title": "t"})).json()
    response = await bob.patch(f"/posts/{post['id']}", json={"owner": "someone-else"})
    assert response.status_code == 422
    assert (await bob.post("/posts", json={"title": "t", "owner": "x"})).status_code == 422


async def test_an_acl_tuple_lets_a_viewer_edit_one_post(demo: Harness, as_user: AsUser) -> None:
    bob, _ = await as_user("bob")
    alice, _ = await as_user("alice")
    carol, _ = await as_user("carol")
    post = (await bob.post("/posts", json={"title": "shared"})).json()
    assert (await carol.patch(f"/posts/{post['id']}", json={"title": "x"})).status_code == 403
    grant = {
        "subject": f"user:{await user_id(demo, 'carol')}",
        "relation": "editor",
        "resource": f"posts:{post['id']}",
    }
    assert (await alice.post("/admin/acl/tuples", json=grant)).json() == {"changed": True}
    assert (await carol.patch(f"/posts/{post['id']}", json={"title": "x"})).status_code == 200
    assert (await alice.post("/admin/acl/tuples/delete", json=grant)).status_code == 200
    assert (await carol.patch(f"/posts/{post['id']}", json={"title": "y"})).status_code == 403


@pytest.mark.sec("SEC-58")
async def test_a_removed_role_is_seen_on_the_next_request_of_the_same_session(
    demo: Harness, as_user: AsUser
) -> None:
    bob, _ = await as_user("bob")
    alice, _ = await as_user("alice")
    assert (await bob.post("/items", json={"name": "a"})).status_code == 201
    bob_id = await user_id(demo, "bob")
    response = await alice.put(
        f"/admin/users/{bob_id}/access", json={"roles": ["viewer"], "groups": ["kitchen"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["viewer"]
    assert (await bob.post("/items", json={"name": "b"})).status_code == 403
    assert (await bob.get("/items")).status_code == 200
    # and through the store directly, as the CLI would
    from ostiary.storage.interfaces.users import UserAccess

    await demo.services.access.set_access(bob_id, UserAccess(frozenset(), frozenset()))
    assert (await bob.get("/items")).status_code == 403


@pytest.mark.sec("SEC-59")
@pytest.mark.parametrize(
    "headers",
    [
        {"X-User-Id": "ALICE"},
        {"X-Roles": "admin"},
        {"X-Forwarded-User": "alice"},
        {"X-User-Id": "ALICE", "X-Roles": "admin,editor", "X-Forwarded-User": "alice", "X-Groups": "kitchen"},
    ],
)
async def test_identity_headers_have_no_effect(
    demo: Harness, as_user: AsUser, headers: dict[str, str]
) -> None:
    alice_id = await user_id(demo, "alice")
    headers = {k: v.replace("ALICE", alice_id) for k, v in headers.items()}
    assert (await demo.http.get("/items", headers=headers)).status_code == 401
    carol, _ = await as_user("carol")
    assert (await carol.post("/items", json={"name": "x"}, headers=headers)).status_code == 403
    assert (await carol.delete("/food/3", headers=headers)).status_code == 403


@pytest.mark.sec("SEC-59")
async def test_a_rule_on_a_missing_attribute_denies(demo: Harness, as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    rule = {
        "effect": "allow",
        "actions": ["items:write"],
        "requires_permission": True,
        "when": {"eq": ["subject.department", "workshop"]},  # nobody has a department
    }
    assert (await alice.put("/admin/policies/workshop-only", json=rule)).status_code == 200
    bob, _ = await as_user("bob")
    response = await bob.post("/items", json={"name": "x"})
    assert response.status_code == 403
    denied = await audit_rows(demo.services, "access.denied")
    assert denied[-1]["details"]["reason"] == "default-deny"
    assert denied[-1]["details"]["action"] == "items:write"


@pytest.mark.sec("SEC-72")
async def test_denials_are_audited_with_the_reason(demo: Harness, as_user: AsUser) -> None:
    bob, _ = await as_user("bob")
    alice, _ = await as_user("alice")
    post = (await alice.post("/posts", json={"title": "t"})).json()
    assert (await bob.patch(f"/posts/{post['id']}", json={"title": "x"})).status_code == 403
    row = (await audit_rows(demo.services, "access.denied"))[-1]
    assert row["outcome"] == "failure"
    assert row["actor"] == await user_id(demo, "bob")
    assert row["subject"] == f"posts:{post['id']}"
    assert row["ip"] == "127.0.0.1"
    assert row["request_id"]
    assert row["details"]["reason"] == "default-deny"
    assert row["details"]["path"] == f"/posts/{post['id']}"


@pytest.mark.sec("SEC-13")
async def test_unsafe_demo_requests_need_the_csrf_token(as_user: AsUser) -> None:
    bob, _ = await as_user("bob")
    del bob.headers["X-CSRF-Token"]
    response = await bob.post("/items", json={"name": "x"})
    assert (response.status_code, response.json()["error"]) == (403, "csrf_failed")
