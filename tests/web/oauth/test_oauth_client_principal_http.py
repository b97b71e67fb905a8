"""A client acting for itself (client credentials) at this server's own API: its token's scopes,
registered for it by an administrator, are what it may do — no user's roles are looked up for
`client:<id>` (SEC-32), and scopes it was not registered for stay out of reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from oauth_browser import register_client

from helpers import Harness, make_app
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.realm.importer import read_realm_file


@pytest.fixture
async def demo(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, demo_users=demo_users()) as harness:
        await realm_importer(harness.services).import_data(read_realm_file(DEMO_REALM))
        yield harness


@pytest.mark.sec("SEC-32")
async def test_a_service_token_reads_items_with_its_registered_scope_only(demo: Harness) -> None:
    client = await register_client(
        demo, "reporting", grant_types=("client_credentials",), scopes=("items:read",)
    )
    issued = await demo.http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "items:read"}, auth=client.basic()
    )
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    listed = await demo.http.get("/items", headers=bearer)
    assert listed.status_code == 200, listed.text
    created = await demo.http.post("/items", json={"name": "x"}, headers=bearer)
    assert created.status_code == 403
    assert 'scope="items:write"' in created.headers.get("www-authenticate", "")


@pytest.mark.sec("SEC-34")
async def test_tokens_of_other_applications_cannot_manage_the_account(demo: Harness) -> None:
    """A token a user delegated to a third-party app acts only through its scopes: the account's own
    routes (sessions, API keys, profile) refuse it, while the user's first-party token works."""
    app = await register_client(demo, "third-party", grant_types=("password",), scopes=("items:read",))
    form = {"grant_type": "password", "username": "bob", "password": "purple lantern meadow"}
    delegated = await demo.http.post("/token", data={**form, "scope": "items:read"}, auth=app.basic())
    assert delegated.status_code == 200, delegated.text
    bearer = {"Authorization": f"Bearer {delegated.json()['access_token']}"}
    assert (await demo.http.get("/items", headers=bearer)).status_code == 200
    for path in ("/auth/me", "/auth/sessions", "/auth/api-keys"):
        refused = await demo.http.get(path, headers=bearer)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"] == "delegated_token_not_allowed"
    first_party = await demo.http.post(
        "/auth/token", json={"username": "bob", "password": "purple lantern meadow"}
    )
    assert first_party.status_code == 200, first_party.text
    own = {"Authorization": f"Bearer {first_party.json()['access_token']}"}
    assert (await demo.http.get("/auth/me", headers=own)).status_code == 200
