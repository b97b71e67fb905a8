"""The email-link and known-device stores on SQLite and PostgreSQL: purpose-namespaced single use,
browser binding, expiry, exactly one winner among concurrent consumes (SEC-06, SEC-75)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from helpers import add_user_rows, schema_differences
from ostiary.storage.interfaces.email_tokens import EmailToken, EmailTokenPurpose
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.email_tokens import SqlEmailTokenStore
from ostiary.storage.sqlalchemy.known_devices import SqlKnownDeviceStore

EMAIL_TABLES = {"email_tokens", "known_devices"}


async def race(n: int, attempt: Callable[[], Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Barrier(n)

    async def one() -> Any:
        await gate.wait()
        return await attempt()

    return list(await asyncio.gather(*(one() for _ in range(n))))


def entry(
    digest: str,
    purpose: EmailTokenPurpose = "reset_password",
    *,
    user: str = "u1",
    expires: float = 100.0,
    binding: str | None = None,
) -> EmailToken:
    return EmailToken(
        digest, purpose, user, f"{user}@example.org", created_at=1.0, expires_at=expires, binding=binding
    )


@pytest.fixture
async def db(sql_db: Database) -> Database:
    await add_user_rows(sql_db, "u1", "u2")
    return sql_db


async def test_migration_0006_creates_exactly_the_email_tables(sql_db: Database) -> None:
    assert await schema_differences(sql_db, EMAIL_TABLES) == []


@pytest.mark.sec("SEC-75")
async def test_a_link_is_consumed_once_and_only_under_its_own_purpose(db: Database) -> None:
    store = SqlEmailTokenStore(db)
    await store.create(entry("d1", "reset_password"))
    assert await store.consume("d1", "magic_link", now=2.0) is None  # another kind cannot touch it
    assert await store.consume("d1", "verify_email", now=2.0) is None
    assert await store.get("d1", "magic_link", now=2.0) is None
    assert await store.get("d1", "reset_password", now=2.0) == entry("d1", "reset_password")
    used = await store.consume("d1", "reset_password", now=2.0)
    assert used == entry("d1", "reset_password")
    assert await store.consume("d1", "reset_password", now=2.0) is None
    assert await store.get("d1", "reset_password", now=2.0) is None


@pytest.mark.sec("SEC-06")
async def test_an_expired_link_is_neither_shown_nor_consumed_and_is_purged(db: Database) -> None:
    store = SqlEmailTokenStore(db)
    await store.create(entry("old", expires=50.0))
    await store.create(entry("new", expires=500.0))
    assert await store.get("old", "reset_password", now=50.0) is None
    assert await store.consume("old", "reset_password", now=50.0) is None
    assert await store.purge_expired(now=50.0) == 1
    assert await store.get("new", "reset_password", now=50.0) is not None


async def test_a_bound_link_needs_its_binding_and_an_unbound_one_ignores_it(db: Database) -> None:
    store = SqlEmailTokenStore(db)
    await store.create(entry("m1", "magic_link", binding="b" * 64))
    await store.create(entry("r1", "reset_password"))
    assert await store.consume("m1", "magic_link", now=2.0) is None
    assert await store.consume("m1", "magic_link", now=2.0, binding="c" * 64) is None
    assert await store.get("m1", "magic_link", now=2.0) is not None  # a wrong browser spends nothing
    assert await store.consume("m1", "magic_link", now=2.0, binding="b" * 64) is not None
    assert await store.consume("r1", "reset_password", now=2.0, binding="x" * 64) is not None


async def test_voiding_a_users_links_leaves_other_purposes_and_users_alone(db: Database) -> None:
    store = SqlEmailTokenStore(db)
    await store.create(entry("a", "reset_password"))
    await store.create(entry("b", "magic_link"))
    await store.create(entry("c", "verify_email"))
    await store.create(entry("d", "reset_password", user="u2"))
    assert await store.delete_for_user("u1", ["reset_password", "magic_link"]) == 2
    assert await store.get("c", "verify_email", now=2.0) is not None
    assert await store.get("d", "reset_password", now=2.0) is not None


@pytest.mark.sec("SEC-75")
@pytest.mark.parametrize("purpose", ["reset_password", "verify_email", "magic_link"])
async def test_twenty_concurrent_consumes_have_exactly_one_winner(
    db: Database, purpose: EmailTokenPurpose
) -> None:
    store = SqlEmailTokenStore(db)
    await store.create(entry("race", purpose, binding="n" * 64 if purpose == "magic_link" else None))
    results = await race(20, lambda: store.consume("race", purpose, now=2.0, binding="n" * 64))
    assert sum(r is not None for r in results) == 1


async def test_known_devices_new_then_known_and_the_newest_are_kept(db: Database) -> None:
    store = SqlKnownDeviceStore(db)
    first = await store.remember("u1", "f1", now=1.0, keep=2)
    assert (first.new, first.known_before) == (True, 0)
    again = await store.remember("u1", "f1", now=2.0, keep=2)
    assert (again.new, again.known_before) == (False, 0)
    assert (await store.remember("u1", "f2", now=3.0, keep=2)).known_before == 1
    assert (await store.remember("u2", "f1", now=3.0, keep=2)).new  # per user
    third = await store.remember("u1", "f3", now=4.0, keep=2)
    assert (third.new, third.known_before) == (True, 2)
    # Only the two most recently seen remain: f1 (seen at 2.0) was dropped.
    assert (await store.remember("u1", "f1", now=5.0, keep=2)).new
    assert await store.forget_user("u1") == 2


async def test_concurrent_first_sightings_of_one_device_report_new_once(db: Database) -> None:
    store = SqlKnownDeviceStore(db)
    results = await race(10, lambda: store.remember("u1", "same", now=1.0, keep=20))
    assert sum(r.new for r in results) == 1
