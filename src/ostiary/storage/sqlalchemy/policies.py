"""SQL store of ABAC rules, ACL tuples and the ACL schema; deletions of RBAC entries.

Each write runs in one transaction with ``bump_rbac_version``, so every engine cache rebuilds on its
next request (SEC-58). The ``*_in`` helpers take a connection so the realm writer can apply rules and
tuples in the same transaction as the rest of a realm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.interfaces.policies import AclConfig, AclRow, PolicySnapshot, RuleRow
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.versioning import bump_rbac_version, read_rbac_version

_RBAC_TABLES = {"permission": t.permissions, "role": t.roles, "group": t.groups}


def _rule(row: Any) -> RuleRow:
    return RuleRow(
        id=row.id,
        effect=row.effect,
        actions=tuple(row.actions),
        condition=row.condition,
        requires_permission=bool(row.requires_permission),
        description=row.description or "",
    )


def _values(rule: RuleRow) -> dict[str, Any]:
    return {
        "effect": rule.effect,
        "actions": list(rule.actions),
        "condition": rule.condition,
        "requires_permission": rule.requires_permission,
        "description": rule.description,
    }


async def put_rule_in(conn: AsyncConnection, rule: RuleRow, position: int | None = None) -> str | None:
    """Upsert one rule: "created", "updated", or None when the stored rule is already equal."""
    current = (await conn.execute(select(t.policy_rules).where(t.policy_rules.c.id == rule.id))).first()
    if current is None:
        if position is None:
            top = (await conn.execute(select(func.max(t.policy_rules.c.position)))).scalar()
            position = (top or 0) + 1
        await conn.execute(insert(t.policy_rules).values(id=rule.id, position=position, **_values(rule)))
        return "created"
    values: dict[str, Any] = {} if _rule(current) == rule else _values(rule)
    if position is not None and current.position != position:
        values["position"] = position
    if not values:
        return None
    await conn.execute(update(t.policy_rules).where(t.policy_rules.c.id == rule.id).values(**values))
    return "updated"


async def add_tuple_in(conn: AsyncConnection, row: AclRow) -> bool:
    c = t.acl_tuples.c
    found = (
        await conn.execute(
            select(c.subject).where(
                c.subject == row.subject, c.relation == row.relation, c.resource == row.resource
            )
        )
    ).first()
    if found is not None:
        return False
    await conn.execute(
        insert(t.acl_tuples).values(subject=row.subject, relation=row.relation, resource=row.resource)
    )
    return True


async def read_acl_config(conn: AsyncConnection) -> AclConfig:
    row = (await conn.execute(select(t.acl_config).where(t.acl_config.c.id == 1))).first()
    if row is None:
        return AclConfig()
    return AclConfig(relations=row.relations, actions=dict(row.actions or {}))


async def set_acl_config_in(conn: AsyncConnection, config: AclConfig) -> bool:
    """Store the ACL schema; True if it changed."""
    relations = None if config.relations is None else _plain(config.relations)
    actions = dict(config.actions)
    row = (await conn.execute(select(t.acl_config).where(t.acl_config.c.id == 1))).first()
    if row is None:
        await conn.execute(insert(t.acl_config).values(id=1, relations=relations, actions=actions))
        return True
    if row.relations == relations and dict(row.actions or {}) == actions:
        return False
    await conn.execute(
        update(t.acl_config).where(t.acl_config.c.id == 1).values(relations=relations, actions=actions)
    )
    return True


def _plain(relations: Mapping[str, Mapping[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    return {
        rtype: {rel: list(implied) for rel, implied in schema.items()} for rtype, schema in relations.items()
    }


class SqlPolicyStore:
    """Implements ``PolicyRuleStore``, ``AclStore`` and ``RbacAdminStore``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshot(self) -> PolicySnapshot:
        async with self._db.read() as conn:
            version = await read_rbac_version(conn)
            rules = [
                _rule(r)
                for r in await conn.execute(
                    select(t.policy_rules).order_by(t.policy_rules.c.position, t.policy_rules.c.id)
                )
            ]
            c = t.acl_tuples.c
            tuples = [
                AclRow(r.subject, r.relation, r.resource)
                for r in await conn.execute(select(t.acl_tuples).order_by(c.resource, c.subject, c.relation))
            ]
            config = await read_acl_config(conn)
        return PolicySnapshot(rules=rules, tuples=tuples, acl=config, version=version)

    async def put_rule(self, rule: RuleRow) -> bool:
        async with self._db.write() as conn:
            outcome = await put_rule_in(conn, rule)
            if outcome is not None:
                await bump_rbac_version(conn)
        return outcome == "created"

    async def delete_rule(self, rule_id: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(delete(t.policy_rules).where(t.policy_rules.c.id == rule_id))
            if result.rowcount:
                await bump_rbac_version(conn)
        return bool(result.rowcount)

    async def add_tuple(self, row: AclRow) -> bool:
        try:
            async with self._db.write() as conn:
                added = await add_tuple_in(conn, row)
                if added:
                    await bump_rbac_version(conn)
        except IntegrityError:  # a concurrent insert of the same tuple won
            return False
        return added

    async def delete_tuple(self, row: AclRow) -> bool:
        c = t.acl_tuples.c
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(t.acl_tuples).where(
                    c.subject == row.subject, c.relation == row.relation, c.resource == row.resource
                )
            )
            if result.rowcount:
                await bump_rbac_version(conn)
        return bool(result.rowcount)

    async def set_acl_config(self, config: AclConfig) -> None:
        async with self._db.write() as conn:
            if await set_acl_config_in(conn, config):
                await bump_rbac_version(conn)

    async def delete_entry(self, kind: str, name: str) -> bool:
        table = _RBAC_TABLES.get(kind)
        if table is None:
            raise ValueError(f"unknown kind {kind!r}")
        async with self._db.write() as conn:
            # Links go by ON DELETE CASCADE (SQLite runs with foreign_keys=ON); a child group's
            # parent becomes NULL.
            result = await conn.execute(delete(table).where(table.c.name == name))
            if result.rowcount:
                await bump_rbac_version(conn)
        return bool(result.rowcount)
