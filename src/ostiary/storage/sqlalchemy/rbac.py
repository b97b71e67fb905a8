"""SQL reads of roles, groups and permissions as one snapshot for the policy engine."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ostiary.storage.interfaces.rbac import GroupRow, RbacSnapshot, RoleRow
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import read_rbac_version


class SqlRbacStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def version(self) -> int:
        async with self._db.read() as conn:
            return await read_rbac_version(conn)

    async def snapshot(self) -> RbacSnapshot:
        async with self._db.read() as conn:
            version = await read_rbac_version(conn)
            perms = {r.name: r.description for r in await conn.execute(select(t.permissions))}
            role_perms: dict[str, set[str]] = defaultdict(set)
            for row in await conn.execute(select(t.role_permissions)):
                role_perms[row.role].add(row.permission)
            role_incl: dict[str, set[str]] = defaultdict(set)
            for row in await conn.execute(select(t.role_includes)):
                role_incl[row.role].add(row.included)
            roles = {
                r.name: RoleRow(
                    r.name, r.description, frozenset(role_perms[r.name]), frozenset(role_incl[r.name])
                )
                for r in await conn.execute(select(t.roles))
            }
            group_roles: dict[str, set[str]] = defaultdict(set)
            for row in await conn.execute(select(t.group_roles)):
                group_roles[row.group_name].add(row.role)
            groups = {
                g.name: GroupRow(g.name, g.description, frozenset(group_roles[g.name]), g.parent)
                for g in await conn.execute(select(t.groups))
            }
        return RbacSnapshot(permissions=perms, roles=roles, groups=groups, version=version)
