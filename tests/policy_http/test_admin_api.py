"""The admin API (users, roles, groups, permissions, rules, ACL, explain), PATCH /auth/me, and the
isolation of one user's sessions and data from another's."""

from __future__ import annotations

import pytest
from demo_support import DEMO_PASSWORDS, AsUser, user_id

from helpers import PASSWORD, Harness, audit_rows


async def test_rule_validation_names_the_bad_key(as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    bad = {"effect": "allow", "actions": ["posts:update"], "when": {"all": [{"eq": ["subject.id"]}]}}
    response = await alice.put("/admin/policies/broken", json=bad)
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("when.all[0].eq")
    typo = await alice.put("/admin/policies/typo", json={"effect": "allow", "actions": ["a:b"], "whne": {}})
    assert (typo.status_code, typo.json()["message"].split(":")[0]) == (400, "whne")
    effect = await alice.put("/admin/policies/e", json={"effect": "permit", "actions": ["a:b"]})
    assert (effect.status_code, effect.json()["message"].split(":")[0]) == (400, "effect")
    ids = [r["id"] for r in (await alice.get("/admin/policies")).json()]
    assert ids == ["edit-own-posts", "food-of-my-groups"]  # nothing stored


async def test_rules_round_trip_and_writes_are_audited(demo: Harness, as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    rule = {"effect": "deny", "actions": ["items:*"], "when": {"eq": ["context.method", "DELETE"]}}
    assert (await alice.put("/admin/policies/no-deletes", json=rule)).status_code == 200
    stored = (await alice.get("/admin/policies")).json()[-1]
    assert stored == {
        "id": "no-deletes", "effect": "deny", "actions": ["items:*"], "when": rule["when"],
        "requires_permission": False, "description": "",
    }  # fmt: skip
    assert (await alice.delete("/admin/policies/no-deletes")).status_code == 200
    assert (await alice.delete("/admin/policies/no-deletes")).status_code == 404
    events = [(r["event"], r["actor"], r["subject"]) for r in await audit_rows(demo.services)]
    alice_id = await user_id(demo, "alice")
    assert ("admin.policy_put", alice_id, "no-deletes") in events
    assert ("admin.policy_delete", alice_id, "no-deletes") in events


async def test_roles_groups_permissions(demo: Harness, as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    assert (
        await alice.put("/admin/permissions/reports:read", json={"description": "Reports"})
    ).status_code == 200
    role = {"permissions": ["reports:read"], "includes": ["viewer"]}
    assert (await alice.put("/admin/roles/analyst", json=role)).json() == {"changed": True}
    assert (await alice.put("/admin/roles/analyst", json=role)).json() == {"changed": False}
    cycle = await alice.put("/admin/roles/viewer", json={"includes": ["analyst"]})
    assert cycle.status_code == 400
    unknown = await alice.put("/admin/roles/r2", json={"permissions": ["nope:nope"]})
    assert (unknown.status_code, unknown.json()["message"]) == (
        400,
        "roles.r2.permissions: unknown permission 'nope:nope'",
    )
    group = await alice.put("/admin/groups/analysts", json={"roles": ["analyst"], "parent": "staff"})
    assert group.status_code == 200
    carol_id = await user_id(demo, "carol")
    out = (await alice.put(f"/admin/users/{carol_id}/access", json={"groups": ["analysts"]})).json()
    assert out["groups"] == ["analysts"]
    assert {"reports:read", "items:read"} <= set(out["permissions"])
    assert (await alice.get("/admin/roles/analyst")).json()["includes"] == ["viewer"]
    assert (await alice.delete("/admin/roles/analyst")).status_code == 200
    assert "reports:read" not in (await alice.get(f"/admin/users/{carol_id}")).json()["permissions"]
    bad = await alice.put(f"/admin/users/{carol_id}/access", json={"roles": ["ghost"]})
    assert (bad.status_code, bad.json()["message"]) == (400, "roles[0]: unknown role 'ghost'")


async def test_create_user(demo: Harness, as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    body = {"username": "erin", "email": "erin@example.com", "password": PASSWORD, "roles": ["editor"]}
    response = await alice.post("/admin/users", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["roles"] == ["editor"]
    erin, _ = await as_user("erin")
    assert (await erin.post("/posts", json={"title": "hi"})).status_code == 201


async def test_explain(demo: Harness, as_user: AsUser) -> None:
    alice, _ = await as_user("alice")
    bob_id = await user_id(demo, "bob")
    response = await alice.get(
        "/admin/policy/explain",
        params={"user": "bob", "action": "posts:update", "resource_type": "posts", "resource_id": "7",
                "resource_attributes": f'{{"owner": "{bob_id}"}}'},
    )  # fmt: skip
    body = response.json()
    assert (body["allowed"], body["reason"]) == (
        True,
        "role:editor grants posts:update + rule:edit-own-posts",
    )
    assert {"check": "restriction", "item": "rule:edit-own-posts", "outcome": "true", "detail": ""} in body[
        "steps"
    ]
    other = await alice.get("/admin/policy/explain", params={"user": "carol", "action": "posts:delete"})
    assert (other.json()["allowed"], other.json()["reason"]) == (False, "default-deny")


@pytest.mark.sec("SEC-57")
async def test_privileged_profile_fields_are_refused(demo: Harness, as_user: AsUser) -> None:
    carol, _ = await as_user("carol")
    before = (await carol.get("/auth/me")).json()
    attack = {
        "roles": ["admin"],
        "is_admin": True,
        "email_verified": True,
        "tenant_id": "other",
        "mfa_enabled": False,
    }
    for key, value in attack.items():
        response = await carol.patch("/auth/me", json={"username": "carol2", key: value})
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "forbidden_field"
    assert (await carol.get("/auth/me")).json() == before  # nothing written
    assert (await carol.post("/items", json={"name": "x"})).status_code == 403
    ok = await carol.patch("/auth/me", json={"email": "carol@new.example"})
    assert ok.status_code == 200, ok.text
    assert (ok.json()["email"], ok.json()["email_verified"]) == ("carol@new.example", False)
    assert "roles" not in ok.json()


@pytest.mark.sec("SEC-56")
async def test_a_user_cannot_touch_another_users_sessions_or_data(demo: Harness, as_user: AsUser) -> None:
    bob, _ = await as_user("bob")
    carol, _ = await as_user("carol")
    bob_session = (await bob.get("/auth/sessions")).json()["sessions"][0]["id"]
    assert (await carol.post(f"/auth/sessions/{bob_session}/revoke")).status_code == 404
    bob_id = await user_id(demo, "bob")
    for method, path in [
        ("GET", f"/admin/users/{bob_id}"),
        ("POST", f"/admin/users/{bob_id}/sessions/revoke"),
        ("POST", f"/admin/users/{bob_id}/disable"),
        ("PUT", f"/admin/users/{bob_id}/access"),
    ]:
        response = await carol.request(method, path, json={} if method == "PUT" else None)
        assert response.status_code == 403, (method, path)
    assert (await bob.get("/auth/me")).status_code == 200  # bob's session lives on
    post = (await bob.post("/posts", json={"title": "bob's"})).json()
    assert (await carol.patch(f"/posts/{post['id']}", json={"title": "mine now"})).status_code == 403


@pytest.mark.sec("SEC-55")
async def test_a_bearer_token_lacking_the_scope_gets_insufficient_scope(demo: Harness) -> None:
    response = await demo.http.post(
        "/auth/token", json={"username": "bob", "password": DEMO_PASSWORDS["bob"], "scope": "items:read"}
    )
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert (await demo.http.get("/items", headers=headers)).status_code == 200
    refused = await demo.http.post("/items", json={"name": "x"}, headers=headers)
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="items:write"' in challenge
    row = (await audit_rows(demo.services, "access.denied"))[-1]
    assert (row["details"]["reason"], row["details"]["auth_method"]) == ("insufficient_scope", "bearer")
    assert (await demo.http.post("/items", json={"name": "x"})).status_code == 401


@pytest.mark.sec("SEC-58")
async def test_a_bearer_callers_roles_are_read_fresh(demo: Harness, as_user: AsUser) -> None:
    response = await demo.http.post(
        "/auth/token", json={"username": "bob", "password": DEMO_PASSWORDS["bob"], "scope": "items:write"}
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert (await demo.http.post("/items", json={"name": "x"}, headers=headers)).status_code == 201
    alice, _ = await as_user("alice")
    bob_id = await user_id(demo, "bob")
    await alice.put(f"/admin/users/{bob_id}/access", json={"roles": ["viewer"]})
    assert (await demo.http.post("/items", json={"name": "y"}, headers=headers)).status_code == 403
