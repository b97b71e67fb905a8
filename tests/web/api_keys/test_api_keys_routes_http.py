"""The API-key routes (web/routes/api_keys.py): the key shown once and never listed, CSRF and a recent
login for every change, 404 for another user's key, and the admin's view (SEC-13, SEC-14, SEC-52,
SEC-54, SEC-56, SEC-72)."""

from __future__ import annotations

from typing import Any

import pytest
from api_keys_http_support import DEMO_PASSWORDS, bearer, call, holder, x_api_key

from helpers import Harness, audit_rows, csrf
from ostiary.core.clock import FrozenClock


async def user_id(h: Harness, username: str) -> str:
    user = await h.services.users.find_by_login(username)
    assert user is not None
    return user.id


@pytest.mark.sec("SEC-52")
async def test_the_key_is_shown_once_and_listings_hold_no_secret(demo: Harness) -> None:
    bob = await holder(demo, "bob")
    response = await bob.client.post(
        "/auth/api-keys",
        json={"name": "deploy", "scopes": ["items:read"], "expires_in": 3600},
        headers=csrf(bob.token),
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    key = created.pop("key")
    assert key.startswith("osk_")
    assert created["prefix"] == key[:13] + "…"
    assert (created["name"], created["scopes"], created["status"], created["kind"]) == (
        "deploy",
        ["items:read"],
        "active",
        "stateful",
    )
    listing = await bob.client.get("/auth/api-keys")
    assert listing.status_code == 200
    assert listing.headers["cache-control"] == "no-store"
    assert listing.json() == {"api_keys": [created]}
    assert key.rsplit("_", 1)[1] not in listing.text
    assert "digest" not in listing.text


@pytest.mark.sec("SEC-13")
async def test_changes_need_the_sessions_csrf_token(demo: Harness) -> None:
    bob = await holder(demo, "bob")
    created = await bob.create_key(["items:read"])
    body = {"name": "k", "scopes": ["items:read"]}
    attempts = [
        await bob.client.post("/auth/api-keys", json=body),
        await bob.client.post("/auth/api-keys", json=body, headers=csrf("forged")),
        await bob.client.post(
            "/auth/api-keys", json=body, headers={**csrf(bob.token), "Origin": "https://evil.example"}
        ),
        await bob.client.post(f"/auth/api-keys/{created['id']}/rotate", json={}),
        await bob.client.delete(f"/auth/api-keys/{created['id']}"),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    listed = (await bob.client.get("/auth/api-keys")).json()["api_keys"]
    assert [(k["id"], k["status"]) for k in listed] == [(created["id"], "active")]
    assert (await bob.client.get(f"/auth/api-keys/{created['id']}/rotate")).status_code == 405


@pytest.mark.sec("SEC-14")
async def test_changes_need_a_recent_login(demo: Harness, clock: FrozenClock) -> None:
    bob = await holder(demo, "bob")
    created = await bob.create_key(["items:read"])
    clock.advance(demo.services.settings.reauth_window_seconds + 1)
    stale = [
        await bob.client.post(
            "/auth/api-keys", json={"name": "k", "scopes": ["items:read"]}, headers=csrf(bob.token)
        ),
        await bob.rotate(created["id"]),
        await bob.revoke(created["id"]),
    ]
    assert [(r.status_code, r.json()["error"]) for r in stale] == [(401, "reauth_required")] * 3
    assert (await bob.client.get("/auth/api-keys")).status_code == 200  # reading is fine
    again = await holder(demo, "bob")  # logging in again is the re-authentication
    assert (await again.rotate(created["id"])).status_code == 201


async def test_unauthenticated_and_token_callers(demo: Harness) -> None:
    assert (await demo.http.get("/auth/api-keys")).status_code == 401
    assert (await demo.http.post("/auth/api-keys", json={"name": "k", "scopes": ["x"]})).status_code == 401
    token = await demo.http.post("/auth/token", json={"username": "bob", "password": DEMO_PASSWORDS["bob"]})
    access = token.json()["access_token"]
    assert (await call(demo, "GET", "/auth/api-keys", bearer(access))).status_code == 200
    refused = await call(
        demo, "POST", "/auth/api-keys", bearer(access), json={"name": "k", "scopes": ["items:read"]}
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "session_required"


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["items:read"]},
        {"name": "k"},
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": "items:read"},
        {"name": "k", "scopes": ["items:read"], "kind": "magic"},
        {"name": "k", "scopes": ["items:read"], "expires_in": "soon"},
        {"name": "k", "scopes": ["items:read"], "user_id": "someone-else"},
        {"name": "k", "scopes": ["items:read"], "expires_in": 10},
        {"name": "", "scopes": ["items:read"]},
    ],
)
async def test_bad_bodies_are_clear_4xx_and_create_nothing(demo: Harness, body: dict[str, Any]) -> None:
    bob = await holder(demo, "bob")
    response = await bob.client.post("/auth/api-keys", json=body, headers=csrf(bob.token))
    assert response.status_code in (400, 422), response.text
    assert (await bob.client.get("/auth/api-keys")).json() == {"api_keys": []}


@pytest.mark.sec("SEC-54")
async def test_rotate_then_revoke_over_http(demo: Harness) -> None:
    bob = await holder(demo, "bob")
    old = await bob.create_key(["items:read"])
    rotated = await bob.rotate(old["id"], grace=300)
    assert rotated.status_code == 201, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert (new["rotated_from"], new["name"], new["scopes"]) == (old["id"], old["name"], old["scopes"])
    for key in (old["key"], new["key"]):
        assert (await call(demo, "GET", "/items", bearer(key))).status_code == 200
    listed = {k["id"]: k["status"] for k in (await bob.client.get("/auth/api-keys")).json()["api_keys"]}
    assert listed == {old["id"]: "rotating", new["id"]: "active"}
    assert (await bob.rotate(old["id"])).status_code == 409  # rotate the new one instead
    assert (await bob.revoke(old["id"])).status_code == 204  # cuts the grace short
    assert (await call(demo, "GET", "/items", bearer(old["key"]))).status_code == 401
    assert (await bob.revoke(new["id"])).status_code == 204
    assert (await bob.revoke(new["id"])).status_code == 204  # idempotent
    assert (await call(demo, "GET", "/items", bearer(new["key"]))).status_code == 401
    lifecycle = {"api_key.created", "api_key.rotated", "api_key.revoked"}
    events = [r["event"] for r in await audit_rows(demo.services) if r["event"] in lifecycle]
    assert events == ["api_key.created", "api_key.rotated", "api_key.revoked", "api_key.revoked"]
    assert len(await audit_rows(demo.services, "api_key.auth_failed")) == 2  # the two refused calls
    for row in await audit_rows(demo.services, "api_key.rotated"):
        assert (row["actor"], row["ip"]) == (await user_id(demo, "bob"), "127.0.0.1")
        assert row["request_id"]


@pytest.mark.sec("SEC-56")
async def test_another_users_key_is_not_found(demo: Harness) -> None:
    bob, carol = await holder(demo, "bob"), await holder(demo, "carol")
    theirs = await bob.create_key(["items:read"])
    assert (await carol.rotate(theirs["id"])).status_code == 404
    assert (await carol.revoke(theirs["id"])).status_code == 404
    assert (await carol.revoke("no-such-key")).status_code == 404
    assert (await carol.client.get("/auth/api-keys")).json() == {"api_keys": []}
    assert (await call(demo, "GET", "/items", x_api_key(theirs["key"]))).status_code == 200


@pytest.mark.sec("SEC-72")
async def test_an_admin_lists_and_revokes_a_users_keys(demo: Harness) -> None:
    bob, alice, carol = await holder(demo, "bob"), await holder(demo, "alice"), await holder(demo, "carol")
    key = await bob.create_key(["items:read"])
    bob_id, alice_id = await user_id(demo, "bob"), await user_id(demo, "alice")
    listing = await alice.client.get(f"/admin/users/{bob_id}/api-keys")
    assert listing.status_code == 200
    assert [k["id"] for k in listing.json()["api_keys"]] == [key["id"]]
    assert key["key"] not in listing.text
    assert (await carol.client.get(f"/admin/users/{bob_id}/api-keys")).status_code == 403
    assert (
        await carol.client.delete(f"/admin/users/{bob_id}/api-keys/{key['id']}", headers=csrf(carol.token))
    ).status_code == 403
    assert (await alice.client.get("/admin/users/nobody/api-keys")).status_code == 404
    assert (
        await alice.client.delete(f"/admin/users/{alice_id}/api-keys/{key['id']}", headers=csrf(alice.token))
    ).status_code == 404
    revoked = await alice.client.delete(
        f"/admin/users/{bob_id}/api-keys/{key['id']}", headers=csrf(alice.token)
    )
    assert revoked.status_code == 204
    assert (await call(demo, "GET", "/items", bearer(key["key"]))).status_code == 401
    [row] = await audit_rows(demo.services, "api_key.revoked")
    assert (row["actor"], row["subject"], row["details"]["reason"]) == (alice_id, bob_id, "revoked_by_admin")


@pytest.mark.sec("SEC-54")
async def test_an_admins_key_cannot_manage_keys_either(demo: Harness) -> None:
    alice, bob = await holder(demo, "alice"), await holder(demo, "bob")
    admin_key = (await alice.create_key(["users:manage"]))["key"]
    bob_id = await user_id(demo, "bob")
    key = await bob.create_key(["items:read"])
    listing = await call(demo, "GET", f"/admin/users/{bob_id}/api-keys", bearer(admin_key))
    assert listing.status_code == 403
    assert listing.json()["error"] == "api_key_not_allowed"
    revoking = await call(demo, "DELETE", f"/admin/users/{bob_id}/api-keys/{key['id']}", bearer(admin_key))
    assert revoking.status_code == 403
    assert (await call(demo, "GET", "/items", bearer(key["key"]))).status_code == 200
    # The same key does reach the other admin APIs its scope covers: scopes narrow, they do not forbid.
    assert (await call(demo, "GET", "/admin/users", bearer(admin_key))).status_code == 200
