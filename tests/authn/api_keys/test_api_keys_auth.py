"""Authenticating a stateful key (authn/api_keys_auth.py): the owner's current permissions narrowed to
the key's scopes, one generic failure with identical work for unknown and wrong keys, throttling and
audit of failures, and a cache that spares the SQL without outliving a revocation (SEC-12, SEC-52,
SEC-53, SEC-54)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from api_keys_unit_support import META, Keys, sql_statements
from sqlalchemy import update

from helpers import audit_rows
from ostiary.authn.api_keys_auth import InvalidApiKey
from ostiary.core.context import RequestMeta
from ostiary.core.errors import RateLimited
from ostiary.storage.interfaces.users import UserAccess
from ostiary.storage.sqlalchemy import tables as t


def wrong_secret(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def unknown_prefix(key: str) -> str:
    prefix = key[4:12]
    other = ("Z" if prefix[0] != "Z" else "Y") + prefix[1:]
    return key.replace(prefix, other, 1)


async def refusal(keys: Keys, key: str, meta: RequestMeta = META) -> InvalidApiKey:
    with pytest.raises(InvalidApiKey) as refused:
        await keys.use(key, meta)
    return refused.value


@pytest.mark.sec("SEC-52")
async def test_the_caller_is_the_owner_narrowed_to_the_keys_scopes(keys: Keys) -> None:
    issued = await keys.issue(scopes=("docs:read",))
    found = await keys.use(issued.key)
    p = found.principal
    assert (p.subject, p.kind, p.method, p.username) == (keys.alice.id, "api_key", "api_key", "alice")
    assert p.scopes == frozenset({"docs:read"})
    assert p.permissions == frozenset({"docs:read"})  # alice also holds users:manage: not granted
    assert (found.key_id, found.key_kind, found.session) == (issued.record.id, "stateful", None)
    assert found.user.id == keys.alice.id


@pytest.mark.sec("SEC-52")
@pytest.mark.parametrize("kind", ["stateful", "stateless"])
async def test_a_key_never_holds_more_than_its_owner_holds_now(keys: Keys, kind: str) -> None:
    issued = await keys.issue(scopes=("docs:read", "users:manage"), kind=kind)
    assert (await keys.use(issued.key)).principal.permissions == {"docs:read", "users:manage"}
    await keys.h.services.access.set_access(keys.alice.id, UserAccess(frozenset({"viewer"})))
    assert (await keys.use(issued.key)).principal.permissions == {"docs:read"}
    await keys.h.services.access.set_access(keys.alice.id, UserAccess(frozenset()))
    assert (await keys.use(issued.key)).principal.permissions == frozenset()


@pytest.mark.sec("SEC-12")
@pytest.mark.parametrize("kind", ["stateful", "stateless"])
async def test_a_disabled_owner_ends_every_key(keys: Keys, kind: str) -> None:
    issued = await keys.issue(kind=kind)
    await keys.use(issued.key)
    assert await keys.h.services.users.update(keys.alice.id, disabled=True)
    assert (await refusal(keys, issued.key)).reason == "owner_disabled"
    assert await keys.h.services.users.update(keys.alice.id, disabled=False)
    await keys.use(issued.key)


@pytest.mark.sec("SEC-54")
async def test_an_expired_key_is_refused(keys: Keys) -> None:
    issued = await keys.issue(expires_in=60)
    await keys.use(issued.key)
    keys.clock.advance(60)
    assert (await refusal(keys, issued.key)).reason == "expired"


@pytest.mark.sec("SEC-53")
async def test_unknown_and_wrong_keys_fail_alike_and_do_the_same_work(keys: Keys) -> None:
    issued = await keys.issue()
    db = keys.h.services.db
    outcomes = []
    for presented in (unknown_prefix(issued.key), wrong_secret(issued.key)):
        await keys.use(issued.key)  # the same warm state before each
        with sql_statements(db) as statements:
            refused = await refusal(keys, presented)
        outcomes.append((type(refused), refused.message, refused.status, refused.code, statements))
    assert outcomes[0] == outcomes[1]
    statements = outcomes[0][4]
    assert sum("FROM api_keys" in s for s in statements) == 1  # one lookup by prefix, both times
    assert sum(s.startswith("INSERT INTO audit_events") for s in statements) == 1
    reasons = [r["details"]["reason"] for r in await audit_rows(keys.h.services, "api_key.auth_failed")]
    assert reasons == ["unknown_key", "wrong_secret"]  # the difference stays in the audit log


@pytest.mark.sec("SEC-53")
async def test_failures_are_audited_without_the_secret(keys: Keys) -> None:
    issued = await keys.issue()
    wrong = wrong_secret(issued.key)
    await refusal(keys, wrong)
    await refusal(keys, "osk_garbage")
    rows = await audit_rows(keys.h.services, "api_key.auth_failed")
    assert [(r["outcome"], r["ip"], r["details"]["reason"]) for r in rows] == [
        ("failure", "192.0.2.10", "wrong_secret"),
        ("failure", "192.0.2.10", "malformed"),
    ]
    assert rows[0]["subject"] == keys.alice.id  # the owner of the prefix sees the attempt
    assert rows[0]["details"]["key_prefix"] == issued.record.prefix
    assert wrong.rsplit("_", 1)[1] not in repr(rows)


@pytest.mark.sec("SEC-53")
async def test_failures_per_ip_are_throttled_even_for_a_correct_key(keys: Keys) -> None:
    keys.auth.config = replace(keys.auth.config, failures_per_ip="3/minute", failures_per_prefix="100/minute")
    issued = await keys.issue()
    for _ in range(3):
        await refusal(keys, wrong_secret(issued.key))
    with pytest.raises(RateLimited):
        await keys.use(wrong_secret(issued.key))
    with sql_statements(keys.h.services.db) as statements, pytest.raises(RateLimited) as limited:
        await keys.use(issued.key)  # refused before any key is checked
    assert statements == []
    assert limited.value.retry_after >= 1
    other_ip = RequestMeta(ip="198.51.100.7")
    assert (await keys.use(issued.key, other_ip)).key_id == issued.record.id
    assert len(await audit_rows(keys.h.services, "api_key.throttled")) == 1


@pytest.mark.sec("SEC-53")
async def test_failures_per_prefix_are_throttled_but_the_owner_is_not_locked_out(keys: Keys) -> None:
    keys.auth.config = replace(keys.auth.config, failures_per_ip="100/minute", failures_per_prefix="3/minute")
    issued = await keys.issue()
    for n in range(3):
        await refusal(keys, wrong_secret(issued.key), RequestMeta(ip=f"203.0.113.{n}"))
    with pytest.raises(RateLimited):  # a fourth guess from yet another address
        await keys.use(wrong_secret(issued.key), RequestMeta(ip="203.0.113.99"))
    assert (await keys.use(issued.key, RequestMeta(ip="203.0.113.100"))).key_id == issued.record.id


async def test_a_cached_key_runs_no_sql_and_last_use_is_written_once_a_minute(keys: Keys) -> None:
    issued = await keys.issue()
    db = keys.h.services.db
    with sql_statements(db) as first:
        await keys.use(issued.key)
    assert any(s.startswith("UPDATE api_keys SET last_used_at") for s in first)
    keys.clock.advance(0.5)  # within the version watch's bound (1 s): nothing is read at all
    with sql_statements(db) as cached:
        for _ in range(5):
            await keys.use(issued.key)
    assert cached == []
    keys.clock.advance(28)  # within the recheck bound (30 s): only the authorization version is read
    with sql_statements(db) as versioned:
        await keys.use(issued.key)
    assert versioned
    assert not any("api_keys" in s for s in versioned)
    assert all("rbac_version" in s or s.startswith(("BEGIN", "ROLLBACK", "COMMIT")) for s in versioned)
    keys.clock.advance(32)  # past the touch interval (60 s) and the recheck bound
    with sql_statements(db) as later:
        await keys.use(issued.key, RequestMeta(ip="198.51.100.8"))
    assert sum(s.startswith("UPDATE api_keys SET last_used_at") for s in later) == 1
    record = await keys.h.services.api_keys.manager.list_keys(keys.alice.id)
    assert (record[0].last_used_at, record[0].last_used_ip) == (keys.clock.now(), "198.51.100.8")


@pytest.mark.sec("SEC-54")
async def test_a_change_made_around_ostiary_is_seen_within_the_recheck_bound(keys: Keys) -> None:
    """A revocation by hand in SQL does not bump the version: the cache still drops it in time."""
    issued = await keys.issue()
    await keys.use(issued.key)
    async with keys.h.services.db.write() as conn:
        await conn.execute(
            update(t.api_keys).where(t.api_keys.c.id == issued.record.id).values(revoked_at=keys.clock.now())
        )
    bound = keys.auth.config.recheck_seconds
    keys.clock.advance(bound - 1)
    await keys.use(issued.key)  # still served from the cache: the bound is real, and documented
    keys.clock.advance(1)
    assert (await refusal(keys, issued.key)).reason == "revoked"


async def test_a_failing_last_use_write_does_not_fail_the_request(
    keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await keys.issue()
    store = keys.h.services.api_keys.authenticator._lookup

    async def broken(*_args: object, **_kwargs: object) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(store, "touch", broken)
    assert (await keys.use(issued.key)).key_id == issued.record.id
