"""A wired app in demo mode with the demo realm imported, and logged-in clients per demo user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from demo_support import DEMO_PASSWORDS, LoggedIn

from helpers import PASSWORD, Harness, login, make_app
from ostiary.compose.realm import DEMO_REALM, demo_users, realm_importer
from ostiary.realm.importer import read_realm_file


@pytest.fixture
async def demo(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url, demo_users=demo_users()) as harness:
        importer = realm_importer(harness.services)
        await importer.import_data(read_realm_file(DEMO_REALM))
        # dave: a known user holding no role at all
        await importer.import_data({"users": [{"username": "dave", "password": PASSWORD}]})
        yield harness


@pytest.fixture
def as_user(demo: Harness) -> Callable[[str], Awaitable[LoggedIn]]:
    """`await as_user("bob")` → (a client with bob's session, his CSRF token)."""

    async def log_in(username: str) -> LoggedIn:
        client = demo.client()
        token = await login(client, username, DEMO_PASSWORDS.get(username, PASSWORD))
        client.headers["X-CSRF-Token"] = token
        return client, token

    return log_in
