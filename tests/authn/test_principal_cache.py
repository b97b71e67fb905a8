"""The per-user principal cache (authn/principals.py) and the version it is keyed on (VersionWatch in
compose/authorization.py), over real SQL stores on SQLite and PostgreSQL.

"Another worker" is simulated by SQL written behind this process's stores (a raw UPDATE of the row and
of the version, as a second process would commit it): this process then has no local hint and must
rely on the staleness bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, update

from helpers import add_user_rows, migrated_db
from ostiary.authn.principals import PrincipalResolver
from ostiary.compose.authorization import LOCAL_WRITE_SETTLE_SECONDS, PolicyEngineCache
from ostiary.core.clock import FrozenClock
from ostiary.storage.interfaces.rbac import RoleRow
from ostiary.storage.interfaces.realm import RealmPlan
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.interfaces.users import UserAccess
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.policies import SqlPolicyStore
from ostiary.storage.sqlalchemy.rbac import SqlRbacStore
from ostiary.storage.sqlalchemy.realm import SqlRealmWriter
from ostiary.storage.sqlalchemy.users import SqlUserAccessStore, SqlUserStore
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version, local_rbac_version

STALENESS = 1.0


@contextmanager
def sql_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement sent to `db` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class World:
    db: Database
    clock: FrozenClock
    users: SqlUserStore
    access: SqlUserAccessStore
    engines: PolicyEngineCache
    resolver: PrincipalResolver


def make_world(db: Database, *, staleness: float = STALENESS, cache_size: int = 100) -> World:
    clock = FrozenClock()
    access = SqlUserAccessStore(db)
    engines = PolicyEngineCache(
        SqlRbacStore(db),
        SqlPolicyStore(db),
        access,
        max_staleness=staleness,
        clock=clock,
        local_version=lambda: local_rbac_version(db.engine),
    )
    users = SqlUserStore(db)
    resolver = PrincipalResolver(users, access, engines, versions=engines, cache_size=cache_size)
    return World(db, clock, users, access, engines, resolver)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    db = await migrated_db(database_url)
    await SqlRealmWriter(db).apply(
        RealmPlan(
            permissions={"docs:read": "", "docs:write": ""},
            roles=[
                RoleRow("reader", "", frozenset({"docs:read"})),
                RoleRow("writer", "", frozenset({"docs:write"})),
            ],
        ),
        now=1.0,
        new_user_id=str,
    )
    await add_user_rows(db, "u1", "u2", "u3", "u4", "u5")
    await SqlUserAccessStore(db).set_access("u1", UserAccess(frozenset({"reader"})))
    try:
        yield db
    finally:
        await db.dispose()


async def behind_our_back(db: Database, **user_changes: object) -> None:
    """What another worker's commit looks like from here: the row changed, the version moved, and
    no local hint."""
    async with db.write() as conn:
        await conn.execute(update(t.users).where(t.users.c.id == "u1").values(**user_changes))
        await conn.execute(update(t.rbac_version).values(version=t.rbac_version.c.version + 1))


async def bump_then_roll_back(db: Database) -> None:
    async with db.write() as conn:
        await bump_rbac_version(conn)  # the hint is noted, then the transaction rolls back
        raise RuntimeError("rollback")


def session_of(user_id: str) -> SessionRecord:
    return SessionRecord("digest", user_id, 1.0, 1.0, 9e9, 5.0, "csrf", "127.0.0.1", "ua", ("pwd",))


async def test_a_fresh_entry_answers_without_sql_and_without_the_password_hash(db: Database) -> None:
    w = make_world(db)
    first = await w.resolver.for_user("u1")
    assert first is not None
    with sql_statements(db) as seen:
        again = await w.resolver.for_user("u1")
        auth = await w.resolver.for_session(session_of("u1"))
    assert seen == []
    assert again == first
    user, principal = first
    assert user.password_hash is None  # add_user_rows stores none; a hash would be stripped too
    assert principal.permissions == frozenset({"docs:read"})
    assert auth is not None
    assert (auth.principal.auth_time, auth.principal.amr, auth.principal.session_digest) == (
        5.0,
        ("pwd",),
        "digest",
    )


async def test_the_cached_record_never_holds_the_password_hash(db: Database) -> None:
    w = make_world(db)
    await w.users.update("u2", password_hash="$argon2id$v=19$secret")
    found = await w.resolver.for_user("u2")
    assert found is not None
    assert found[0].password_hash is None
    stored = await w.users.get("u2")
    assert stored is not None
    assert stored.password_hash == "$argon2id$v=19$secret"


@pytest.mark.sec("SEC-58")
async def test_a_role_change_in_this_process_shows_on_the_next_call(db: Database) -> None:
    w = make_world(db, staleness=3600.0)  # the bound plays no part: the local hint does it
    assert (await w.resolver.for_user("u1"))[1].permissions == {"docs:read"}  # type: ignore[index]
    await w.access.set_access("u1", UserAccess(frozenset({"writer"})))
    found = await w.resolver.for_user("u1")
    assert found is not None
    assert found[1].roles == {"writer"}
    assert found[1].permissions == {"docs:write"}


@pytest.mark.sec("SEC-12")
async def test_a_user_disabled_in_this_process_is_refused_on_the_next_call(db: Database) -> None:
    w = make_world(db, staleness=3600.0)
    assert await w.resolver.for_session(session_of("u1")) is not None
    assert await w.users.update("u1", disabled=True)
    assert await w.resolver.for_session(session_of("u1")) is None
    assert await w.resolver.for_user("u1") is None
    assert "u1" not in w.resolver._cache  # a disabled user leaves no entry


async def test_username_and_email_changes_show_on_the_next_call(db: Database) -> None:
    w = make_world(db, staleness=3600.0)
    await w.resolver.for_user("u1")
    await w.users.update("u1", username="renamed", email="new@example.org")
    found = await w.resolver.for_user("u1")
    assert found is not None
    assert (found[0].username, found[0].email, found[1].username) == ("renamed", "new@example.org", "renamed")


@pytest.mark.sec("SEC-12")
async def test_another_workers_disable_is_seen_within_the_staleness_bound(db: Database) -> None:
    w = make_world(db)
    assert await w.resolver.for_user("u1") is not None
    await behind_our_back(db, disabled=True)
    w.clock.advance(STALENESS * 0.5)
    assert await w.resolver.for_user("u1") is not None  # inside the documented bound
    w.clock.advance(STALENESS * 0.5)
    assert await w.resolver.for_user("u1") is None


async def test_a_strict_watch_sees_another_workers_change_at_once(db: Database) -> None:
    w = make_world(db, staleness=0.0)
    assert await w.resolver.for_user("u1") is not None
    await behind_our_back(db, disabled=True)
    assert await w.resolver.for_user("u1") is None


async def test_the_version_is_read_at_most_once_per_bound(db: Database) -> None:
    w = make_world(db)
    await w.resolver.for_user("u1")
    with sql_statements(db) as seen:
        for _ in range(50):  # 1.5 bounds of time: one read, when the first bound has passed
            await w.resolver.for_user("u1")
            w.clock.advance(STALENESS * 0.03)
    assert len([s for s in seen if "rbac_version" in s]) == 1


async def test_a_clock_stepping_back_counts_as_stale(db: Database) -> None:
    w = make_world(db)
    await w.resolver.for_user("u1")
    await behind_our_back(db, disabled=True)
    w.clock.advance(-10.0)
    assert await w.resolver.for_user("u1") is None


async def test_a_rolled_back_local_write_costs_reads_for_a_while_not_forever(db: Database) -> None:
    w = make_world(db)
    await w.resolver.for_user("u1")
    with pytest.raises(RuntimeError):
        await bump_then_roll_back(db)
    with sql_statements(db) as seen:
        assert await w.resolver.for_user("u1") is not None
        assert await w.resolver.for_user("u1") is not None
    assert len([s for s in seen if "rbac_version" in s]) == 2  # waiting for the write to show
    w.clock.advance(LOCAL_WRITE_SETTLE_SECONDS + 0.1)
    await w.resolver.for_user("u1")
    with sql_statements(db) as seen:
        await w.resolver.for_user("u1")
    assert seen == []  # given up on it: back to one read per bound


async def test_the_cache_is_bounded_and_drops_the_least_recently_used(db: Database) -> None:
    w = make_world(db, cache_size=3)
    for user_id in ("u1", "u2", "u3"):
        await w.resolver.for_user(user_id)
    await w.resolver.for_user("u1")  # u2 is now the least recently used
    await w.resolver.for_user("u4")
    await w.resolver.for_user("u5")
    assert list(w.resolver._cache) == ["u1", "u4", "u5"]
    with sql_statements(db) as seen:
        await w.resolver.for_user("u2")
    assert any("FROM users" in s for s in seen)


async def test_unknown_users_are_not_cached(db: Database) -> None:
    w = make_world(db)
    assert await w.resolver.for_user("nobody") is None
    assert "nobody" not in w.resolver._cache


async def test_without_a_version_source_every_call_reads(db: Database) -> None:
    w = make_world(db)
    plain = PrincipalResolver(w.users, w.access, w.engines)
    await plain.for_user("u1")
    with sql_statements(db) as seen:
        await plain.for_user("u1")
    assert any("FROM users" in s for s in seen)


async def test_concurrent_misses_share_one_load(db: Database) -> None:
    w = make_world(db)
    await w.engines.engine()  # built already: only the user is loaded below
    with sql_statements(db) as seen:
        results = await asyncio.gather(*(w.resolver.for_user("u1") for _ in range(20)))
    assert len(set(results)) == 1
    assert results[0] is not None
    assert len([s for s in seen if "FROM users" in s]) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_load(db: Database) -> None:
    w = make_world(db)
    first = asyncio.ensure_future(w.resolver.for_user("u1"))
    second = asyncio.ensure_future(w.resolver.for_user("u1"))
    await asyncio.sleep(0)
    first.cancel()
    found = await second
    assert found is not None
    assert found[1].permissions == {"docs:read"}


async def resolve(w: World, start: asyncio.Barrier) -> object:
    await start.wait()
    return await w.resolver.for_user("u1")


async def change_roles(w: World, start: asyncio.Barrier, roles: frozenset[str]) -> None:
    await start.wait()
    await w.access.set_access("u1", UserAccess(roles))


@pytest.mark.sec("SEC-58")
async def test_loads_racing_a_role_change_leave_no_stale_entry(db: Database) -> None:
    w = make_world(db, staleness=3600.0)
    for round_ in range(5):
        roles = frozenset({"writer" if round_ % 2 == 0 else "reader"})
        start = asyncio.Barrier(21)
        await asyncio.gather(change_roles(w, start, roles), *(resolve(w, start) for _ in range(20)))
        found = await w.resolver.for_user("u1")
        assert found is not None
        assert found[1].roles == roles, round_
