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
