"""SqlPolicyStore on SQLite and PostgreSQL; the engine cache built from it (rebuild, fail closed)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from ostiary.compose.authorization import PolicyEngineCache
from ostiary.policy import Resource, Subject
from ostiary.storage.interfaces.policies import AclConfig, AclRow, RuleRow
from ostiary.storage.interfaces.rbac import RoleRow
from ostiary.storage.interfaces.realm import RealmPlan
from ostiary.storage.interfaces.users import UserAccess
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.policies import SqlPolicyStore
from ostiary.storage.sqlalchemy.rbac import SqlRbacStore
from ostiary.storage.sqlalchemy.realm import SqlRealmWriter
from ostiary.storage.sqlalchemy.users import SqlUserAccessStore

OWN = RuleRow("own", "allow", ("posts:update",), {"eq": ["subject.id", "resource.owner"]}, True, "own posts")


async def test_rules_round_trip_in_order_and_bump_the_version(sql_db: Database) -> None:
    store, rbac = SqlPolicyStore(sql_db), SqlRbacStore(sql_db)
    v0 = await rbac.version()
    assert await store.put_rule(OWN) is True
    assert await store.put_rule(RuleRow("b", "deny", ("*",))) is True
    v1 = await rbac.version()
    assert v1 > v0
    assert await store.put_rule(OWN) is False  # same: no write, no bump
    assert await rbac.version() == v1
    changed = RuleRow("own", "allow", ("posts:update", "posts:delete"), None)
    assert await store.put_rule(changed) is False
    snapshot = await store.snapshot()
    assert [r.id for r in snapshot.rules] == ["own", "b"]
    assert snapshot.rules[0] == changed
    assert snapshot.version > v1
    assert await store.delete_rule("own") is True
    assert await store.delete_rule("own") is False
    assert [r.id for r in (await store.snapshot()).rules] == ["b"]


async def test_tuples_are_unique(sql_db: Database) -> None:
    store = SqlPolicyStore(sql_db)
    row = AclRow("user:1", "owner", "posts:7")
    assert await store.add_tuple(row) is True
    assert await store.add_tuple(row) is False
    assert await store.add_tuple(AclRow("group:eng", "viewer", "posts:7")) is True
    assert (await store.snapshot()).tuples == [AclRow("group:eng", "viewer", "posts:7"), row]
    assert await store.delete_tuple(row) is True
    assert await store.delete_tuple(row) is False


async def test_acl_config(sql_db: Database) -> None:
    store, rbac = SqlPolicyStore(sql_db), SqlRbacStore(sql_db)
    assert (await store.snapshot()).acl == AclConfig()
    config = AclConfig({"docs": {"owner": ["reader"], "reader": []}}, {"docs:read": "reader"})
    await store.set_acl_config(config)
    version = await rbac.version()
    await store.set_acl_config(config)
    assert await rbac.version() == version
    assert (await store.snapshot()).acl == config


async def test_delete_rbac_entries(sql_db: Database) -> None:
    store, rbac = SqlPolicyStore(sql_db), SqlRbacStore(sql_db)
    await SqlRealmWriter(sql_db).apply(
        RealmPlan(permissions={"a:b": ""}, roles=[RoleRow("r", "", frozenset({"a:b"}))]),
        now=1.0,
        new_user_id=str,
    )
    assert await store.delete_entry("permission", "a:b") is True
    assert (await rbac.snapshot()).roles["r"].permissions == frozenset()
    assert await store.delete_entry("role", "r") is True
    assert await store.delete_entry("group", "none") is False
    with pytest.raises(ValueError):
        await store.delete_entry("user", "x")


async def cache(db: Database) -> PolicyEngineCache:
    return PolicyEngineCache(SqlRbacStore(db), SqlPolicyStore(db), SqlUserAccessStore(db))


@pytest.mark.sec("SEC-58")
async def test_the_engine_cache_rebuilds_on_change_only(sql_db: Database) -> None:
    await SqlRealmWriter(sql_db).apply(
        RealmPlan(
            permissions={"posts:update": ""}, roles=[RoleRow("editor", "", frozenset({"posts:update"}))]
        ),
        now=1.0,
        new_user_id=str,
    )
    engines = await cache(sql_db)
    first = await engines.engine()
    assert await engines.engine() is first
    editor = Subject.of("u1", roles=["editor"])
    assert (
        (await engines.engine()).decide(editor, "posts:update", Resource.of("posts", 1, owner="u2")).allowed
    )
    await SqlPolicyStore(sql_db).put_rule(OWN)
    second = await engines.engine()
    assert second is not first
    assert not second.decide(editor, "posts:update", Resource.of("posts", 1, owner="u2")).allowed
    assert second.decide(editor, "posts:update", Resource.of("posts", 1, owner="u1")).allowed


@pytest.mark.sec("SEC-59")
async def test_a_stored_rule_that_does_not_build_denies_everything(sql_db: Database) -> None:
    await SqlRealmWriter(sql_db).apply(
        RealmPlan(permissions={"items:read": ""}, roles=[RoleRow("viewer", "", frozenset({"items:read"}))]),
        now=1.0,
        new_user_id=str,
    )
    engines = await cache(sql_db)
    viewer = Subject.of("u", roles=["viewer"])
    assert (await engines.engine()).decide(viewer, "items:read").allowed
    await SqlPolicyStore(sql_db).put_rule(RuleRow("x", "allow", ("a:b",)))
    async with sql_db.write() as conn:  # tampered with behind the API's back
        await conn.execute(update(t.policy_rules).values(condition={"no_such_operator": 1}))
        await conn.execute(update(t.rbac_version).values(version=t.rbac_version.c.version + 1))
    decision = (await engines.engine()).decide(viewer, "items:read")
    assert (decision.allowed, decision.reason) == (False, "default-deny")
    assert await engines.effective_permissions(frozenset({"viewer"}), frozenset()) == frozenset()


async def test_user_access_is_cached_per_version(sql_db: Database) -> None:
    from helpers import add_user_rows

    await add_user_rows(sql_db, "u1")
    await SqlRealmWriter(sql_db).apply(RealmPlan(roles=[RoleRow("r")]), now=1.0, new_user_id=str)
    access = SqlUserAccessStore(sql_db)
    engines = await cache(sql_db)
    assert await engines.access_of("u1") == UserAccess()
    await access.set_access("u1", UserAccess(frozenset({"r"})))
    assert await engines.access_of("u1") == UserAccess(frozenset({"r"}))
