"""Applies a realm plan in one transaction: an idempotent upsert of every entry."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.interfaces.rbac import GroupRow
from ostiary.storage.interfaces.realm import RealmChanges, RealmPlan, RealmUser
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.policies import add_tuple_in, put_rule_in, set_acl_config_in
from ostiary.storage.sqlalchemy.users import login_key
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version


async def _sync_links(
    conn: AsyncConnection, table: Table, owner_col: str, owner: str, item_col: str, wanted: frozenset[str]
) -> bool:
    """Make the set of (owner, item) rows equal `wanted`; True when anything changed."""
    owner_c, item_c = table.c[owner_col], table.c[item_col]
    current = set((await conn.execute(select(item_c).where(owner_c == owner))).scalars())
    missing, extra = wanted - current, current - wanted
    if extra:
        await conn.execute(delete(table).where(owner_c == owner, item_c.in_(extra)))
    if missing:
        await conn.execute(insert(table), [{owner_col: owner, item_col: item} for item in sorted(missing)])
    return bool(missing or extra)


class SqlRealmWriter:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(self, plan: RealmPlan, *, now: float, new_user_id: Callable[[], str]) -> RealmChanges:
        changes = RealmChanges()
        async with self._db.write() as conn:
            for name, description in plan.permissions.items():
                await self._upsert_named(conn, t.permissions, "permission", name, description, changes)
            for role in plan.roles:
                await self._upsert_named(conn, t.roles, "role", role.name, role.description, changes)
            for role in plan.roles:
                linked = await _sync_links(
                    conn, t.role_permissions, "role", role.name, "permission", role.permissions
                )
                linked |= await _sync_links(
                    conn, t.role_includes, "role", role.name, "included", role.includes
                )
                if linked:
                    changes.add("role", created=False)
            for group in plan.groups:
                await self._upsert_named(conn, t.groups, "group", group.name, group.description, changes)
            for group in plan.groups:
                await self._group_links(conn, group, changes)
            for user in plan.users:
                await self._user(conn, user, now, new_user_id, changes)
            for position, rule in enumerate(plan.rules, start=1):
                outcome = await put_rule_in(conn, rule, position)
                if outcome is not None:
                    changes.add("policy", created=outcome == "created")
            if plan.acl_config is not None and await set_acl_config_in(conn, plan.acl_config):
                changes.add("acl_config", created=False)
            for row in plan.acl_tuples:
                if await add_tuple_in(conn, row):
                    changes.add("acl_tuple", created=True)
            if changes.changed:
                await bump_rbac_version(conn)
        return changes

    @staticmethod
    async def _upsert_named(
        conn: AsyncConnection, table: Table, kind: str, name: str, description: str, ch: RealmChanges
    ) -> None:
        """Insert a (name, description) row, or update its description when it differs."""
        current = (await conn.execute(select(table.c.description).where(table.c.name == name))).first()
        if current is None:
            await conn.execute(insert(table).values(name=name, description=description))
            ch.add(kind, created=True)
        elif current[0] != description:
            await conn.execute(update(table).where(table.c.name == name).values(description=description))
            ch.add(kind, created=False)

    async def _group_links(self, conn: AsyncConnection, group: GroupRow, ch: RealmChanges) -> None:
        parent = (await conn.execute(select(t.groups.c.parent).where(t.groups.c.name == group.name))).scalar()
        changed = parent != group.parent
        if changed:
            await conn.execute(
                update(t.groups).where(t.groups.c.name == group.name).values(parent=group.parent)
            )
        changed |= await _sync_links(conn, t.group_roles, "group_name", group.name, "role", group.roles)
        if changed:
            ch.add("group", created=False)

    async def _user(
        self, conn: AsyncConnection, user: RealmUser, now: float, new_id: Callable[[], str], ch: RealmChanges
    ) -> None:
        key = login_key(user.username)
        row = (await conn.execute(select(t.users).where(t.users.c.username_key == key))).mappings().first()
        email_key = login_key(user.email) if user.email else None
        if row is None:
            user_id = new_id()
            await conn.execute(
                insert(t.users).values(
                    id=user_id,
                    username=user.username,
                    username_key=key,
                    email=user.email,
                    email_key=email_key,
                    email_verified=False,
                    password_hash=user.password_hash,
                    password_changed_at=now if user.password_hash else None,
                    disabled=user.disabled,
                    mfa_enabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            ch.add("user", created=True)
        else:
            user_id = row["id"]
            values: dict[str, object] = {}
            if row["email"] != user.email:
                values.update(email=user.email, email_key=email_key)
            if bool(row["disabled"]) != user.disabled:
                values["disabled"] = user.disabled
            if user.password_hash is not None and row["password_hash"] != user.password_hash:
                values.update(password_hash=user.password_hash, password_changed_at=now)
            if values:
                values["updated_at"] = now
                await conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
                ch.add("user", created=False)
        linked = await _sync_links(conn, t.user_roles, "user_id", user_id, "role", user.roles)
        linked |= await _sync_links(conn, t.user_groups, "user_id", user_id, "group_name", user.groups)
        if linked and row is not None:
            ch.add("user", created=False)
