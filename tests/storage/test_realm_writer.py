"""The realm writer is idempotent: one copy of everything, a changed entry updated (SQLite, PostgreSQL)."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy import func, select

from ostiary.storage.interfaces.rbac import GroupRow, RoleRow
from ostiary.storage.interfaces.realm import RealmPlan, RealmUser
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.rbac import SqlRbacStore
from ostiary.storage.sqlalchemy.realm import SqlRealmWriter
from ostiary.storage.sqlalchemy.users import SqlUserAccessStore, SqlUserStore

COUNTED = (
    t.users, t.permissions, t.roles, t.role_permissions, t.role_includes, t.groups, t.group_roles,
    t.user_roles, t.user_groups,
)  # fmt: skip


def plan(
    *, email: str = "alice@example.com", editor_description: str = "edits", alice_roles=("editor",)
) -> RealmPlan:
    return RealmPlan(
        permissions={"docs:read": "read", "docs:write": "write", "users:manage": "manage users"},
        roles=[
            RoleRow("viewer", "reads", frozenset({"docs:read"})),
            RoleRow("editor", editor_description, frozenset({"docs:write"}), frozenset({"viewer"})),
            RoleRow("admin", "all", frozenset({"users:manage"}), frozenset({"editor"})),
        ],
        groups=[GroupRow("staff", "everyone", frozenset({"viewer"}))],
        users=[
            RealmUser("alice", email, "$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA", frozenset(alice_roles),
                      frozenset({"staff"}), False),
            RealmUser("bob", None, None, frozenset({"viewer"}), frozenset(), True),
        ],
    )  # fmt: skip


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {
            table.name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            for table in COUNTED
        }


def ids() -> object:
    counter = itertools.count()
    return lambda: str(uuid.UUID(int=next(counter)))


async def test_applying_the_same_plan_twice_changes_nothing_the_second_time(sql_db: Database) -> None:
    writer = SqlRealmWriter(sql_db)
    first = await writer.apply(plan(), now=1.0, new_user_id=ids())
    assert first.changed
    assert first.created == {"permission": 3, "role": 3, "group": 1, "user": 2}
    before = await counts(sql_db)
    version = await SqlRbacStore(sql_db).version()
    second = await writer.apply(plan(), now=2.0, new_user_id=ids())
    assert second.changed is False
    assert second.created == {} and second.updated == {}
    assert await counts(sql_db) == before
    assert before["users"] == 2 and before["role_permissions"] == 3 and before["user_roles"] == 2
    assert await SqlRbacStore(sql_db).version() == version  # caches need not rebuild
    alice = await SqlUserStore(sql_db).find_by_login("alice")
    assert alice is not None and alice.updated_at == 1.0


async def test_a_changed_entry_is_updated_in_place(sql_db: Database) -> None:
    writer = SqlRealmWriter(sql_db)
    await writer.apply(plan(), now=1.0, new_user_id=ids())
    users = SqlUserStore(sql_db)
    alice_before = await users.find_by_login("alice")
    assert alice_before is not None
    version = await SqlRbacStore(sql_db).version()

    changes = await writer.apply(
        plan(email="alice@new.example", editor_description="edits a lot", alice_roles=("admin",)),
        now=5.0,
        new_user_id=ids(),
    )
    assert changes.changed
    assert changes.created == {}
    assert changes.updated.get("user", 0) >= 1 and changes.updated.get("role", 0) >= 1
    alice = await users.find_by_login("alice@new.example")
    assert alice is not None
    assert alice.id == alice_before.id  # updated, not recreated
    assert alice.updated_at == 5.0
    assert (await SqlUserAccessStore(sql_db).access_of(alice.id)).roles == {"admin"}
    snapshot = await SqlRbacStore(sql_db).snapshot()
    assert snapshot.roles["editor"].description == "edits a lot"
    assert snapshot.version > version
    assert (await counts(sql_db))["users"] == 2
