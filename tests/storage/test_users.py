"""SQL user store on SQLite and PostgreSQL: race-safe uniqueness (SEC-76), case-insensitive lookups."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.users import NewUser, UserAccess
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.users import SqlUserAccessStore, SqlUserStore


def new_user(n: int, username: str, email: str | None) -> NewUser:
    return NewUser(f"00000000-0000-0000-0000-{n:012d}", username, email, "$argon2id$x", created_at=1.0)


async def _race(users: SqlUserStore, candidates: list[NewUser]) -> tuple[int, list[BaseException]]:
    results = await asyncio.gather(*(users.create(u) for u in candidates), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return len(results) - len(errors), errors


@pytest.mark.sec("SEC-76")
async def test_10_concurrent_creates_of_one_username_make_exactly_one_account(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    # Same username in different cases, different emails: the case-folded key is what is unique.
    candidates = [new_user(i, "Mallory" if i % 2 else "mallory", f"m{i}@example.org") for i in range(10)]
    created, errors = await _race(users, candidates)
    assert created == 1
    assert len(errors) == 9
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len(await users.list()) == 1


@pytest.mark.sec("SEC-76")
async def test_10_concurrent_creates_of_one_email_make_exactly_one_account(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    candidates = [
        new_user(i, f"user{i}", "Same@Example.org" if i % 2 else "same@example.org") for i in range(10)
    ]
    created, errors = await _race(users, candidates)
    assert created == 1
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len(await users.list()) == 1


async def test_lookups_are_case_insensitive_and_by_email_when_login_has_an_at(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    await users.create(new_user(1, "Alice", "Alice@Example.ORG"))
    for login in ("alice", "ALICE", " Alice ", "alice@example.org", "ALICE@EXAMPLE.ORG"):
        found = await users.find_by_login(login)
        assert found is not None, login
        assert found.username == "Alice"  # the stored form keeps its case
        assert found.email == "Alice@Example.ORG"
    assert await users.find_by_login("alic") is None
    assert await users.find_by_login("alice@example.com") is None


async def test_create_conflicts_on_a_case_variant_and_update_on_a_taken_name(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    await users.create(new_user(1, "alice", "alice@example.org"))
    await users.create(new_user(2, "bob", None))
    await users.create(new_user(3, "carol", None))  # several users without email is fine
    with pytest.raises(Conflict):
        await users.create(new_user(4, "ALICE", None))
    with pytest.raises(Conflict):
        await users.create(new_user(5, "dave", "ALICE@example.org"))
    with pytest.raises(Conflict):
        await users.update(new_user(2, "", None).id, username="Alice")
    assert await users.update(new_user(2, "", None).id, email="bob@example.org")
    bob = await users.find_by_login("BOB@example.org")
    assert bob is not None
    assert bob.email == "bob@example.org"


async def test_update_takes_updated_at(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    user = new_user(1, "alice", None)
    await users.create(user)
    assert await users.update(user.id, disabled=True, updated_at=2.0)
    found = await users.get(user.id)
    assert found is not None
    assert found.disabled
    assert found.updated_at == 2.0
    assert await users.update("no-such-id", disabled=True, updated_at=2.0) is False


async def test_access_store_replaces_roles_and_groups(sql_db: Database) -> None:
    from helpers import ADMIN_ROLE, PERMISSIONS, VIEWER_ROLE
    from ostiary.storage.interfaces.realm import RealmPlan
    from ostiary.storage.sqlalchemy.realm import SqlRealmWriter

    await SqlRealmWriter(sql_db).apply(
        RealmPlan(permissions=PERMISSIONS, roles=[ADMIN_ROLE, VIEWER_ROLE]), now=1.0, new_user_id=str
    )
    users, access = SqlUserStore(sql_db), SqlUserAccessStore(sql_db)
    user = new_user(1, "alice", None)
    await users.create(user)
    assert await access.access_of(user.id) == UserAccess()
    await access.set_access(user.id, UserAccess(roles=frozenset({"admin", "viewer"})))
    assert (await access.access_of(user.id)).roles == {"admin", "viewer"}
    await access.set_access(user.id, UserAccess(roles=frozenset({"viewer"})))
    assert await access.access_of(user.id) == UserAccess(roles=frozenset({"viewer"}))


@pytest.mark.sec("SEC-12")
async def test_tokens_not_before_is_updatable_and_read_back(sql_db: Database) -> None:
    users = SqlUserStore(sql_db)
    user = new_user(1, "alice", None)
    await users.create(user)
    assert (await users.get(user.id)).tokens_not_before is None  # type: ignore[union-attr]
    assert await users.update(user.id, tokens_not_before=1_800_000_000.375)
    stored = await users.get(user.id)
    assert stored is not None
    assert stored.tokens_not_before == 1_800_000_000.375
    assert stored.updated_at == 1.0  # not a profile change: `updated_at` stays
    assert (await users.find_by_login("alice")) == stored
    assert not await users.update("nobody", tokens_not_before=1.0)
