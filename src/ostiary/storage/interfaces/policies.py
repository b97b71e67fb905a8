"""ABAC rules and ACL tuples as stored; the policy engine is built from a snapshot of them.

Storage knows nothing of the policy layer: a rule's condition is kept as the JSON the admin wrote
(already checked by the engine's parser before it is written), and compiled when the engine is built.
Every write bumps the authorization version in the same transaction, so caches rebuild (SEC-58).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class RuleRow:
    id: str
    effect: str  # "allow" | "deny"
    actions: tuple[str, ...]
    condition: Any = None  # the `when` JSON, or None for an unconditional rule
    requires_permission: bool = False
    description: str = ""

    def as_data(self) -> dict[str, Any]:
        """The rule in the realm-file / admin-API shape that ``Rule.from_data`` parses."""
        data: dict[str, Any] = {
            "id": self.id,
            "effect": self.effect,
            "actions": list(self.actions),
            "requires_permission": self.requires_permission,
            "description": self.description,
        }
        if self.condition is not None:
            data["when"] = self.condition
        return data


@dataclass(frozen=True, order=True)
class AclRow:
    subject: str  # "user:42" | "group:eng" | "client:cli"
    relation: str
    resource: str  # "<type>:<id>"


@dataclass(frozen=True)
class AclConfig:
    """The ACL schema: implied relations per resource type, and the relation each action needs.

    ``relations`` None means the engine's default (owner ⇒ editor ⇒ viewer for every type)."""

    relations: Mapping[str, Mapping[str, list[str]]] | None = None
    actions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySnapshot:
    rules: list[RuleRow]  # in declaration order
    tuples: list[AclRow]
    acl: AclConfig
    version: int


class PolicyRuleStore(Protocol):
    async def snapshot(self) -> PolicySnapshot: ...

    async def put_rule(self, rule: RuleRow) -> bool:
        """Insert or replace the rule with this id (a new rule goes last); True if it was new."""
        ...

    async def delete_rule(self, rule_id: str) -> bool: ...


class AclStore(Protocol):
    async def add_tuple(self, row: AclRow) -> bool:
        """True if added, False if it already existed."""
        ...

    async def delete_tuple(self, row: AclRow) -> bool: ...

    async def set_acl_config(self, config: AclConfig) -> None: ...


class RbacAdminStore(Protocol):
    """Deletions the idempotent realm writer (an upsert) does not do."""

    async def delete_entry(self, kind: str, name: str) -> bool:
        """Delete a ``permission``, ``role`` or ``group`` by name, with its links; True if it existed."""
        ...
