"""Contract of ClientStore on memory, SQLite and PostgreSQL (RFC 6749 §2, RFC 7591 §2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from oauth_store_backends import Backend

from ostiary.core.errors import Conflict, NotFound
from ostiary.storage.interfaces.oauth_clients import Client, ClientLifetimes
from ostiary.storage.memory.oauth_clients import MemoryClientStore
from ostiary.storage.sqlalchemy.oauth_clients import SqlClientStore


def make_store(backend: Backend) -> Any:
    if backend.kind == "memory":
        return MemoryClientStore()
    assert backend.db is not None
    return SqlClientStore(backend.db, backend.clock)


CONFIDENTIAL = Client(
    client_id="web-app",
    name="Web App",
    secret_digest="h" * 64,
    redirect_uris=("https://app.example/cb", "https://app.example/cb2"),
    grant_types=("authorization_code", "refresh_token", "client_credentials"),
    response_types=("code",),
    scopes=("openid", "profile", "docs:read"),
    token_endpoint_auth_method="client_secret_post",
    access_token_format="opaque",
    first_party=True,
    post_logout_redirect_uris=("https://app.example/bye",),
    application_type="web",
    id_token_signed_response_alg="EdDSA",
    lifetimes=ClientLifetimes(access_token=300, refresh_token=86400, refresh_token_idle=3600, id_token=120),
    disabled=False,
    created_at=1_800_000_000.25,
)
PUBLIC = Client(
    client_id="cli",
    name="CLI",
    token_endpoint_auth_method="none",
    redirect_uris=("http://127.0.0.1/cb",),
    application_type="native",
)


async def test_add_get_list(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    assert await store.get("web-app") is None
    assert await store.list() == []
    await store.add(CONFIDENTIAL)
    await store.add(PUBLIC)
    assert await store.get("web-app") == CONFIDENTIAL
    assert await store.get("cli") == PUBLIC
    assert await store.list() == [PUBLIC, CONFIDENTIAL]  # by client_id


async def test_duplicate_client_id_conflicts(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    await store.add(CONFIDENTIAL)
    with pytest.raises(Conflict):
        await store.add(replace(CONFIDENTIAL, name="Impostor"))
    assert (await store.get("web-app")).name == "Web App"


async def test_update_replaces_and_requires_the_client(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    with pytest.raises(NotFound):
        await store.update(PUBLIC)
    assert await store.get("cli") is None
    await store.add(CONFIDENTIAL)
    changed = replace(
        CONFIDENTIAL,
        redirect_uris=(),
        scopes=("openid",),
        disabled=True,
        lifetimes=ClientLifetimes(),
        secret_digest="k" * 64,
    )
    await store.update(changed)
    assert await store.get("web-app") == changed
    assert await store.list() == [changed]


@pytest.mark.sec("SEC-12")
async def test_tokens_not_before_round_trips_and_is_replaced_by_update(durable_backend: Backend) -> None:
    store = make_store(durable_backend)
    await store.add(replace(PUBLIC, tokens_not_before=1_800_000_000.125))
    found = await store.get("cli")
    assert found is not None and found.tokens_not_before == 1_800_000_000.125
    await store.update(replace(found, disabled=True, tokens_not_before=1_800_000_777.5))
    assert (await store.get("cli")) == replace(PUBLIC, disabled=True, tokens_not_before=1_800_000_777.5)
    await store.add(CONFIDENTIAL)
    assert (await store.get("web-app")) is not None
    assert (await store.get("web-app")).tokens_not_before is None  # type: ignore[union-attr]
