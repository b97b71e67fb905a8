"""Permissions, roles and groups as stored; the policy engine is built from a snapshot of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class RoleRow:
    name: str
    description: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)
    includes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GroupRow:
    name: str
    description: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    parent: str | None = None


@dataclass(frozen=True)
class RbacSnapshot:
    permissions: dict[str, str]  # name -> description
    roles: dict[str, RoleRow]
    groups: dict[str, GroupRow]
    version: int


class RbacStore(Protocol):
    async def snapshot(self) -> RbacSnapshot: ...

    async def version(self) -> int:
        """A counter bumped by every change of roles, groups, permissions or assignments."""
        ...
