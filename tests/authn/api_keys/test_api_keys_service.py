"""Creating, listing, rotating and revoking keys (authn/api_keys.py): shown once, stored as a digest,
scopes within what the creator holds, only by the account holder in a recent session, audited
(SEC-14, SEC-52, SEC-54, SEC-72)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from api_keys_unit_support import META, Keys
from sqlalchemy import select

from helpers import audit_rows
from ostiary.authn.api_keys_auth import InvalidApiKey
from ostiary.authn.api_keys_format import key_digest
from ostiary.core.errors import Conflict, Forbidden, NotFound, ReauthRequired, ValidationFailed
from ostiary.storage.sqlalchemy import tables as t


@pytest.mark.sec("SEC-52")
async def test_a_stateful_key_is_stored_only_as_a_digest_and_its_prefix(keys: Keys) -> None:
    issued = await keys.issue(scopes=("docs:read",), name="  deploy bot ")
    record = issued.record
    assert issued.key.startswith(f"osk_{record.prefix}_")
    assert record.digest == key_digest(issued.key)
    assert (record.name, record.scopes, record.kind) == ("deploy bot", frozenset({"docs:read"}), "stateful")
    assert record.expires_at == int(keys.clock.now() + keys.manager.config.default_ttl)
    assert "key=" not in repr(issued)  # the secret never reaches a log line through repr
    secret = issued.key.rsplit("_", 1)[1]
    async with keys.h.services.db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(select(t.api_keys))).mappings()]
    assert len(rows) == 1
    assert secret not in repr(rows)
    assert issued.key not in repr(await audit_rows(keys.h.services))


async def test_a_stateless_key_is_stored_as_metadata_only(keys: Keys) -> None:
    issued = await keys.issue(kind="stateless", expires_in=3600)
    assert issued.key.startswith("oskj_")
    assert (issued.record.prefix, issued.record.digest) == (None, None)
    assert issued.record.expires_at == int(keys.clock.now()) + 3600
    assert (await keys.use(issued.key)).key_id == issued.record.id


@pytest.mark.sec("SEC-52")
async def test_scopes_must_be_permissions_the_creator_holds(keys: Keys) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await keys.issue(keys.bob, scopes=("docs:read", "users:manage"))
    assert refused.value.code == "invalid_scope"
    assert "users:manage" in refused.value.message
    for scopes in ((), tuple(f"s{i}" for i in range(101))):
        with pytest.raises(ValidationFailed):
            await keys.issue(scopes=scopes)
    assert await keys.manager.list_keys(keys.bob.id) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", ""), ("name", "   "), ("name", "x" * 101), ("name", "tab\there"), ("expires_in", 59)],
)
async def test_bad_input_is_a_clear_400(keys: Keys, field: str, value: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await keys.issue(**{field: value})
    assert refused.value.field == field


async def test_lifetime_is_capped(keys: Keys) -> None:
    cap = keys.manager.config.max_ttl
    assert (await keys.issue(expires_in=cap)).record.expires_at == int(keys.clock.now() + cap)
    with pytest.raises(ValidationFailed):
        await keys.issue(expires_in=cap + 1)


@pytest.mark.sec("SEC-14")
async def test_creating_needs_a_recent_browser_session_of_the_holder(keys: Keys) -> None:
    window = keys.manager.config.reauth_window
    old = await keys.session_of(keys.alice, age=window + 1)
    with pytest.raises(ReauthRequired):
        await keys.manager.create(old, name="k", scopes=["docs:read"], meta=META)
    recent = await keys.session_of(keys.alice, age=window - 1)
    bearer = replace(recent, method="bearer")
    with pytest.raises(Forbidden) as refused:
        await keys.manager.create(bearer, name="k", scopes=["docs:read"], meta=META)
    assert refused.value.code == "session_required"
    await keys.manager.create(recent, name="k", scopes=["docs:read"], meta=META)


@pytest.mark.sec("SEC-54")
async def test_an_api_key_cannot_mint_list_or_manage_keys(keys: Keys) -> None:
    issued = await keys.issue()
    key_caller = (await keys.use(issued.key)).principal
    assert (key_caller.kind, key_caller.method) == ("api_key", "api_key")
    for attempt in (
        keys.manager.create(key_caller, name="k", scopes=["docs:read"], meta=META),
        keys.manager.rotate(key_caller, issued.record.id, grace=0, meta=META),
        keys.manager.revoke(key_caller, issued.record.id, meta=META),
    ):
        with pytest.raises(Forbidden):
            await attempt
    with pytest.raises(Forbidden):
        keys.manager.check_holder(key_caller, change=False)
    assert len(await keys.manager.list_keys(keys.alice.id)) == 1


async def test_the_live_key_cap(keys: Keys) -> None:
    keys.manager.config = replace(keys.manager.config, max_per_user=2)
    first = await keys.issue()
    await keys.issue(kind="stateless")
    with pytest.raises(Conflict) as refused:
        await keys.issue()
    assert refused.value.code == "too_many_keys"
    await keys.manager.revoke(await keys.session_of(keys.alice), first.record.id, meta=META)
    await keys.issue()  # a revoked key no longer counts


@pytest.mark.sec("SEC-54")
@pytest.mark.parametrize("kind", ["stateful", "stateless"])
async def test_rotation_with_grace_then_the_old_key_stops(keys: Keys, kind: str) -> None:
    old = await keys.issue(kind=kind, expires_in=7200, scopes=("docs:read", "users:manage"))
    keys.clock.advance(100)
    session = await keys.session_of(keys.alice)
    new = await keys.manager.rotate(session, old.record.id, grace=60, meta=META)
    assert new.key != old.key
    assert (new.record.name, new.record.scopes, new.record.kind) == (old.record.name, old.record.scopes, kind)
    assert new.record.rotated_from == old.record.id
    assert new.record.expires_at == int(keys.clock.now() + 7200)  # the old key's lifetime, from now
    assert (await keys.use(old.key)).key_id == old.record.id  # still within the grace
    assert (await keys.use(new.key)).key_id == new.record.id
    with pytest.raises(Conflict):  # the replaced key cannot be rotated a second time
        await keys.manager.rotate(session, old.record.id, grace=0, meta=META)
    keys.clock.advance(60)
    with pytest.raises(InvalidApiKey):
        await keys.use(old.key)
    assert (await keys.use(new.key)).key_id == new.record.id
    rotated = await audit_rows(keys.h.services, "api_key.rotated")
    assert [(r["actor"], r["details"]["old_key_id"], r["details"]["grace"]) for r in rotated] == [
        (keys.alice.id, old.record.id, 60)
    ]


async def test_rotation_without_grace_stops_the_old_key_at_once(keys: Keys) -> None:
    old = await keys.issue()
    await keys.use(old.key)  # cached
    new = await keys.manager.rotate(await keys.session_of(keys.alice), old.record.id, grace=0, meta=META)
    with pytest.raises(InvalidApiKey):
        await keys.use(old.key)
    await keys.use(new.key)


async def test_rotation_grace_is_bounded(keys: Keys) -> None:
    old = await keys.issue()
    session = await keys.session_of(keys.alice)
    for grace in (-1, keys.manager.config.max_rotation_grace + 1):
        with pytest.raises(ValidationFailed):
            await keys.manager.rotate(session, old.record.id, grace=grace, meta=META)


@pytest.mark.sec("SEC-56")
async def test_another_users_key_is_not_found(keys: Keys) -> None:
    theirs = await keys.issue(keys.bob)
    alice = await keys.session_of(keys.alice)
    with pytest.raises(NotFound):
        await keys.manager.rotate(alice, theirs.record.id, grace=0, meta=META)
    with pytest.raises(NotFound):
        await keys.manager.revoke(alice, theirs.record.id, meta=META)
    with pytest.raises(NotFound):
        await keys.manager.admin_revoke(alice, keys.alice.id, theirs.record.id, meta=META)
    assert (await keys.use(theirs.key)).key_id == theirs.record.id


@pytest.mark.sec("SEC-72")
async def test_revocation_is_audited_once_and_is_idempotent(keys: Keys) -> None:
    issued = await keys.issue()
    session = await keys.session_of(keys.alice)
    await keys.manager.revoke(session, issued.record.id, meta=META)
    await keys.manager.revoke(session, issued.record.id, meta=META)
    await keys.manager.admin_revoke(session, keys.alice.id, issued.record.id, meta=META)
    created = await audit_rows(keys.h.services, "api_key.created")
    revoked = await audit_rows(keys.h.services, "api_key.revoked")
    assert len(created) == 1
    assert len(revoked) == 1
    row = revoked[0]
    assert (row["actor"], row["subject"], row["ip"], row["request_id"]) == (
        keys.alice.id,
        keys.alice.id,
        "192.0.2.10",
        "req-1",
    )
    assert row["details"]["key_id"] == issued.record.id
    assert row["details"]["prefix"] == f"osk_{issued.record.prefix}_…"
    with pytest.raises(InvalidApiKey):
        await keys.use(issued.key)
