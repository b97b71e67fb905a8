"""The admin API for OAuth clients: guarded by `clients:manage`, secrets shown once, SEC-25 at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import Harness, audit_rows, login, make_app
from ostiary.compose.clients import build_client_registry, client_secret_hasher
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.realm.importer import read_realm_file
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.web.policy_marks import endpoint_routes, route_policy

PASSWORDS = {u["username"]: u["password"] for u in demo_users()}
NEW_CLIENT: dict[str, Any] = {
    "client_id": "partner-app",
    "name": "Partner App",
    "redirect_uris": ["https://partner.example.com/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "items:read"],
}


@pytest.fixture
async def demo(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        await realm_importer(harness.services).import_data(read_realm_file(DEMO_REALM))
        yield harness


async def signed_in(demo: Harness, username: str) -> httpx.AsyncClient:
    client = demo.client()
    client.headers["X-CSRF-Token"] = await login(client, username, PASSWORDS[username])
    return client


async def stored(demo: Harness, client_id: str) -> Client:
    client = await build_client_registry(demo.services).find(client_id)
    assert client is not None
    return client


def verifies(demo: Harness, secret: str, client: Client) -> bool:
    assert client.secret_digest is not None
    return client_secret_hasher(demo.services).verify(secret, client.secret_digest)


def test_every_client_route_requires_the_permission(demo: Harness) -> None:
    found = {
        (m, r.path): route_policy(r)
        for r in endpoint_routes(demo.app.api.routes)
        if r.path.startswith("/admin/clients")
        for m in r.methods or ()
    }
    assert len(found) == 7
    assert set(found.values()) == {"require:clients:manage"}


@pytest.mark.sec("SEC-55")
async def test_unauthenticated_401_and_unprivileged_403(demo: Harness) -> None:
    calls = [
        ("GET", "/admin/clients", None),
        ("POST", "/admin/clients", NEW_CLIENT),
        ("GET", "/admin/clients/demo-web", None),
        ("PATCH", "/admin/clients/demo-web", {"name": "x"}),
        ("POST", "/admin/clients/demo-web/rotate-secret", None),
        ("POST", "/admin/clients/demo-web/disable", None),
        ("POST", "/admin/clients/demo-web/enable", None),
    ]
    bob = await signed_in(demo, "bob")  # editor: no clients:manage
    for method, path, body in calls:
        assert (await demo.http.request(method, path, json=body)).status_code == 401, (method, path)
        assert (await bob.request(method, path, json=body)).status_code == 403, (method, path)
    denied = await audit_rows(demo.services, "access.denied")
    assert {r["details"]["action"] for r in denied} == {"clients:manage"}
    assert len(denied) == len(calls)
    assert not (await stored(demo, "demo-web")).disabled


async def test_create_shows_the_secret_once(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    created = await alice.post("/admin/clients", json=NEW_CLIENT)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    secret = body.pop("client_secret")
    assert len(secret) >= 43
    assert body["confidential"] is True
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["lifetimes"]["access_token"] == 600
    assert verifies(demo, secret, await stored(demo, "partner-app"))
    shown = await alice.get("/admin/clients/partner-app")
    assert shown.json() == body
    listed = await alice.get("/admin/clients")
    assert [c["client_id"] for c in listed.json()] == [
        "demo-service", "demo-spa", "demo-web", "ostiary-cli", "partner-app",
    ]  # fmt: skip
    for text in (shown.text, listed.text):
        assert secret not in text
        assert '"client_secret"' not in text
        assert "digest" not in text
    events = await audit_rows(demo.services, "admin.client_create")
    assert [(e["subject"], e["details"]["confidential"]) for e in events] == [("partner-app", True)]
    assert secret not in str(await audit_rows(demo.services))
    assert (await alice.post("/admin/clients", json=NEW_CLIENT)).status_code == 409
    public = await alice.post(
        "/admin/clients", json={**NEW_CLIENT, "client_id": "spa-2", "token_endpoint_auth_method": "none"}
    )
    assert (public.status_code, public.json()["client_secret"]) == (201, None)


async def test_rotation_invalidates_the_old_secret(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    first = (await alice.post("/admin/clients", json=NEW_CLIENT)).json()["client_secret"]
    rotated = await alice.post("/admin/clients/partner-app/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    second = rotated.json()["client_secret"]
    assert second != first
    client = await stored(demo, "partner-app")
    assert verifies(demo, second, client)
    assert not verifies(demo, first, client)
    assert [e["subject"] for e in await audit_rows(demo.services, "admin.client_rotate_secret")] == [
        "partner-app"
    ]
    public = await alice.post("/admin/clients/demo-spa/rotate-secret")
    assert (public.status_code, public.json()["error"]) == (400, "public_client")
    assert (await alice.post("/admin/clients/nobody/rotate-secret")).status_code == 404


@pytest.mark.sec("SEC-25")
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["JavaScript:alert(1)"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["data:text/html,<script>alert(1)</script>"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["*"]}, "redirect_uris[0]"),
        ({"redirect_uris": [".*"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["https://*.partner.example.com/cb"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["http://partner.example.com/cb"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["http://localhost/cb"]}, "redirect_uris[0]"),
        ({"redirect_uris": ["https://ok.example.com/cb", "https://partner.example.com/cb#x"]}, "redirect_uris[1]"),
        ({"post_logout_redirect_uris": ["javascript:alert(1)"]}, "post_logout_redirect_uris[0]"),
    ],
)  # fmt: skip
async def test_dangerous_redirect_uris_are_400(demo: Harness, changes: dict[str, Any], field: str) -> None:
    alice = await signed_in(demo, "alice")
    response = await alice.post("/admin/clients", json={**NEW_CLIENT, **changes})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(f"{field}: ")
    assert (await alice.get("/admin/clients/partner-app")).status_code == 404
    patched = await alice.patch("/admin/clients/demo-web", json=changes)
    assert patched.status_code == 400
    assert (await stored(demo, "demo-web")).redirect_uris == ("http://127.0.0.1:8080/callback",)


async def test_other_bad_input_is_400_or_422_never_500(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    bad = await alice.post(
        "/admin/clients",
        json={
            **NEW_CLIENT,
            "client_id": "bad id",
            "token_endpoint_auth_method": "none",
            "grant_types": ["password"],
        },
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client_metadata"
    assert "client_id: " in bad.json()["message"]
    assert "grant_types[0]: a public client cannot use password" in bad.json()["message"]
    assert (
        await alice.post("/admin/clients", json={**NEW_CLIENT, "client_secret": "x" * 50})
    ).status_code == 422
    assert (await alice.post("/admin/clients", json={**NEW_CLIENT, "scopes": "openid"})).status_code == 422
    assert (await alice.patch("/admin/clients/demo-web", json={"scopes": None})).status_code == 400
    assert (await alice.patch("/admin/clients/demo-web", json={"disabled": True})).status_code == 422
    assert (await alice.patch("/admin/clients/nobody", json={"name": "x"})).status_code == 404
    assert (await alice.get("/admin/clients/nobody")).status_code == 404


async def test_patch_changes_only_what_it_names(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    before = await stored(demo, "demo-web")
    patched = await alice.patch(
        "/admin/clients/demo-web", json={"name": "Renamed", "lifetimes": {"access_token": 300}}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["client_secret"], body["scopes"]) == ("Renamed", None, list(before.scopes))
    assert body["lifetimes"] == {**body["lifetimes"], "access_token": 300, "refresh_token": 30 * 24 * 3600}
    after = await stored(demo, "demo-web")
    assert after.secret_digest == before.secret_digest
    assert [e["details"]["fields"] for e in await audit_rows(demo.services, "admin.client_update")] == [
        ["lifetimes", "name"]
    ]
    # A public client made confidential gets its secret in this one answer.
    made = await alice.patch(
        "/admin/clients/demo-spa", json={"token_endpoint_auth_method": "client_secret_post"}
    )
    assert made.status_code == 200, made.text
    assert verifies(demo, made.json()["client_secret"], await stored(demo, "demo-spa"))


async def test_disable_and_enable(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    disabled = await alice.post("/admin/clients/demo-web/disable")
    assert (disabled.status_code, disabled.json()["disabled"]) == (200, True)
    assert (await stored(demo, "demo-web")).disabled
    assert (await alice.post("/admin/clients/demo-web/enable")).json()["disabled"] is False
    assert not (await stored(demo, "demo-web")).disabled
    events = [e["event"] for e in await audit_rows(demo.services) if e["subject"] == "demo-web"]
    assert events == ["admin.client_disable", "admin.client_enable"]
    assert (await alice.post("/admin/clients/nobody/disable")).status_code == 404


@pytest.mark.sec("SEC-13")
async def test_cookie_writes_need_the_csrf_token(demo: Harness) -> None:
    alice = await signed_in(demo, "alice")
    del alice.headers["X-CSRF-Token"]
    assert (await alice.post("/admin/clients/demo-web/disable")).status_code == 403
    assert not (await stored(demo, "demo-web")).disabled
