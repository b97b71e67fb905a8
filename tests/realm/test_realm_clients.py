"""The realm file's `clients:` section: checked with the rest, idempotent, path-named errors (SEC-25)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from helpers import Harness, make_app
from ostiary.compose.clients import build_client_registry, client_secret_hasher
from ostiary.compose.realm import DEMO_REALM, realm_importer
from ostiary.realm.errors import RealmError
from ostiary.realm.importer import read_realm_file
from ostiary.storage.interfaces.oauth_clients import Client

SECRET = secrets.token_urlsafe(32)
WEB: dict[str, Any] = {
    "client_id": "web-app",
    "client_secret": SECRET,
    "redirect_uris": ["https://app.example.com/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "profile", "email", "offline_access", "items:read"],
}
SPA: dict[str, Any] = {
    "client_id": "spa",
    "application_type": "native",
    "redirect_uris": ["http://127.0.0.1/callback"],
    "grant_types": ["authorization_code"],
    "lifetimes": {"access_token": 300},
}


@pytest.fixture
async def app(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, database_url) as harness:
        yield harness


async def stored(app: Harness, client_id: str) -> Client:
    client = await build_client_registry(app.services).find(client_id)
    assert client is not None
    return client


def verifies(app: Harness, secret: str, client: Client) -> bool:
    assert client.secret_digest is not None
    return client_secret_hasher(app.services).verify(secret, client.secret_digest)


async def test_clients_import_idempotently(app: Harness) -> None:
    importer = realm_importer(app.services)
    first = await importer.import_data({"clients": [WEB, SPA]})
    assert first.created == {"client": 2}
    assert not (await importer.import_data({"clients": [WEB, SPA]})).changed
    web, spa = await stored(app, "web-app"), await stored(app, "spa")
    assert web.token_endpoint_auth_method == "client_secret_basic"
    assert verifies(app, SECRET, web)
    assert (web.name, web.scopes, web.response_types) == ("web-app", tuple(WEB["scopes"]), ("code",))
    assert not spa.is_confidential  # no secret in the file: public
    assert spa.token_endpoint_auth_method == "none"
    assert (spa.application_type, spa.lifetimes.access_token) == ("native", 300)
    changed = await importer.import_data({"clients": [{**WEB, "scopes": ["openid"]}, SPA]})
    assert changed.updated == {"client": 1}
    assert (await stored(app, "web-app")).scopes == ("openid",)


async def test_the_demo_clients(app: Harness) -> None:
    importer = realm_importer(app.services)
    assert (await importer.import_data(read_realm_file(DEMO_REALM))).created["client"] == 4
    assert "client" not in (await importer.import_data(read_realm_file(DEMO_REALM))).updated
    demo = {c["client_id"]: c for c in read_realm_file(DEMO_REALM)["clients"]}
    cli, spa = await stored(app, "ostiary-cli"), await stored(app, "demo-spa")
    web, service = await stored(app, "demo-web"), await stored(app, "demo-service")
    assert not cli.is_confidential
    assert cli.grant_types == ("urn:ietf:params:oauth:grant-type:device_code", "refresh_token")
    assert not spa.is_confidential
    assert spa.redirect_uris == ("http://127.0.0.1/callback",)
    assert verifies(app, demo["demo-web"]["client_secret"], web)
    assert verifies(app, demo["demo-service"]["client_secret"], service)
    assert service.grant_types == ("client_credentials",)
    # The demo admin may manage them.
    admin = (await app.services.rbac.snapshot()).roles["admin"]
    assert "clients:manage" in admin.permissions


async def test_a_stored_secret_is_kept_and_never_silently_dropped(app: Harness) -> None:
    importer = realm_importer(app.services)
    await importer.import_data({"clients": [WEB]})
    without_secret = {k: v for k, v in WEB.items() if k != "client_secret"}
    assert not (await importer.import_data({"clients": [without_secret]})).changed
    assert verifies(app, SECRET, await stored(app, "web-app"))
    rotated = secrets.token_urlsafe(32)
    assert (await importer.import_data({"clients": [{**WEB, "client_secret": rotated}]})).changed
    web = await stored(app, "web-app")
    assert verifies(app, rotated, web)
    assert not verifies(app, SECRET, web)
    # Only an explicit method makes a stored confidential client public.
    public = {**without_secret, "token_endpoint_auth_method": "none"}
    assert (await importer.import_data({"clients": [public]})).updated == {"client": 1}
    assert not (await stored(app, "web-app")).is_confidential


@pytest.mark.parametrize(
    ("clients", "path"),
    [
        ([WEB, {**SPA, "redirect_uris": ["javascript:alert(1)"]}], "clients[1].redirect_uris[0]"),
        ([{**WEB, "redirect_uris": ["http://app.example.com/cb"]}], "clients[0].redirect_uris[0]"),
        ([{**WEB, "post_logout_redirect_uris": ["data:text/html,x"]}], "clients[0].post_logout_redirect_uris[0]"),
        ([{**WEB, "client_secret": "short"}], "clients[0].client_secret"),
        ([{**WEB, "client_secret": None, "token_endpoint_auth_method": "client_secret_post"}], "clients[0].client_secret"),
        ([{**SPA, "grant_types": ["client_credentials"]}], "clients[0].grant_types[0]"),
        ([{**WEB, "grant_types": ["implicit"]}], "clients[0].grant_types[0]"),
        ([{**WEB, "client_id": "has space"}], "clients[0].client_id"),
        ([WEB, {**SPA, "client_id": "web-app"}], "clients[1].client_id"),
        ([{**WEB, "lifetimes": {"access_token": 7200}}], "clients[0].lifetimes.access_token"),
        ([{**WEB, "lifetimes": {"access_token": "ten"}}], "clients[0].lifetimes.access_token"),
        ([{**WEB, "application_type": "desktop"}], "clients[0].application_type"),
        ([{**WEB, "secret": SECRET}], "clients[0].secret"),
        ([{**WEB, "id_token_signed_response_alg": "none"}], "clients[0].id_token_signed_response_alg"),
    ],
)  # fmt: skip
@pytest.mark.sec("SEC-25")
async def test_a_bad_client_reports_its_path_and_nothing_is_applied(
    app: Harness, clients: list[dict[str, Any]], path: str
) -> None:
    realm = {"permissions": ["items:read"], "roles": [{"name": "viewer", "permissions": ["items:read"]}]}
    with pytest.raises(RealmError) as caught:
        await realm_importer(app.services).import_data({**realm, "clients": clients})
    assert caught.value.problems[0][0] == path, caught.value.problems
    assert str(caught.value).count(path) >= 1
    assert (await app.services.rbac.snapshot()).roles == {}
    assert await build_client_registry(app.services).list() == []
