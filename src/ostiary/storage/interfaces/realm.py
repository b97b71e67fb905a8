"""Applying a realm (permissions, roles, groups, users) in one transaction, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ostiary.storage.interfaces.policies import AclConfig, AclRow, RuleRow
from ostiary.storage.interfaces.rbac import GroupRow, RoleRow


@dataclass(frozen=True)
class RealmUser:
    username: str
    email: str | None
    password_hash: str | None  # None: keep the stored hash (or none for a new user)
    roles: frozenset[str]
    groups: frozenset[str]
    disabled: bool


@dataclass(frozen=True)
class RealmPlan:
    permissions: dict[str, str] = field(default_factory=dict)
    roles: list[RoleRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    users: list[RealmUser] = field(default_factory=list)
    rules: list[RuleRow] = field(default_factory=list)  # upserted by id, in file order
    acl_tuples: list[AclRow] = field(default_factory=list)  # added when missing
    acl_config: AclConfig | None = None  # None: leave the stored ACL schema alone


@dataclass
class RealmChanges:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, *, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class RealmWriter(Protocol):
    async def apply(self, plan: RealmPlan, *, now: float, new_user_id: Callable[[], str]) -> RealmChanges:
        """Upsert everything in `plan` in one transaction; unchanged entries are left alone."""
        ...
