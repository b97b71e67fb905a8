"""RBAC: permissions, composite roles and nested groups, expanded once into effective grants.

Direction of inheritance (the Keycloak convention):

- A role *includes* other roles: holding ``editor`` that includes ``viewer`` means holding both.
- A group has an optional *parent*. A member of a child group is also a member of every ancestor, so
  the child's members receive the roles of the parent, grand-parent, …: ``eng/backend`` members get
  the roles given to ``eng``. Roles never flow upward, from a child group to the parent's members.

Everything transitive is computed in ``RbacModel.build``; a lookup at request time is one cached
union of precomputed frozensets. Unknown role or group names held by a subject grant nothing
(fail closed, SEC-59).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from ostiary.policy.errors import PolicyError

# RFC 6749 §3.3 scope-token characters, without spaces: a permission is usable as an OAuth scope.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def check_permission_name(name: object, path: str) -> str:
    if not isinstance(name, str) or not _SCOPE_TOKEN.match(name):
        raise PolicyError(f"invalid permission name {name!r} (must be an OAuth scope-token)", path=path)
    return name


@dataclass(frozen=True, slots=True)
class Permission:
    """A named capability such as ``posts:update``; also usable as an OAuth scope."""

    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    permissions: frozenset[str] = frozenset()
    includes: frozenset[str] = frozenset()  # composite role: holding this role holds these too
    description: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    roles: frozenset[str] = frozenset()
    parent: str | None = None  # members of this group are members of the parent too
    description: str = ""


@dataclass(frozen=True, slots=True)
class SubjectGrants:
    """What a user holds directly, as stored: role and group names (the model expands them)."""

    user_id: str
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EffectiveGrants:
    """The expansion of (direct roles, direct groups): every role, group and permission held."""

    roles: frozenset[str]
    groups: frozenset[str]
    permissions: frozenset[str]
    # permission -> the name of one role granting it (the first in name order), for `Decision.reason`
    granted_by: Mapping[str, str] = field(repr=False)


def transitive_closure(
    name: str, edges: Mapping[str, frozenset[str]], kind: str, path: str | None = None
) -> frozenset[str]:
    """All nodes reachable from ``name`` (itself included); a cycle raises naming it."""
    seen: set[str] = set()
    stack: list[tuple[str, list[str]]] = [(name, [name])]
    while stack:
        node, trail = stack.pop()
        seen.add(node)
        for nxt in sorted(edges.get(node, frozenset())):
            if nxt in trail:
                cycle = " -> ".join([*trail[trail.index(nxt) :], nxt])
                raise PolicyError(f"{kind} cycle: {cycle}", path=path or f"{kind}s.{name}")
            if nxt not in seen:
                stack.append((nxt, [*trail, nxt]))
    return frozenset(seen)


class RbacModel:
    """An immutable, validated RBAC snapshot. Build with ``RbacModel.build`` or ``from_data``."""

    __slots__ = ("_group_roles", "_groups", "_lookup", "_role_perms", "_role_roles", "_roles")

    def __init__(
        self,
        roles: Mapping[str, Role],
        groups: Mapping[str, Group],
        role_roles: Mapping[str, frozenset[str]],
        role_perms: Mapping[str, frozenset[str]],
        group_ancestry: Mapping[str, frozenset[str]],
        cache_size: int,
    ) -> None:
        self._roles = MappingProxyType(dict(roles))
        self._groups = MappingProxyType(dict(group_ancestry))
        self._role_roles = role_roles
        self._role_perms = role_perms
        self._group_roles = {
            g: frozenset(r for a in anc for r in groups[a].roles) for g, anc in group_ancestry.items()
        }
        self._lookup = lru_cache(maxsize=cache_size)(self._expand)

    @classmethod
    def build(
        cls,
        roles: Iterable[Role],
        groups: Iterable[Group] = (),
        permissions: Iterable[Permission] | None = None,
        *,
        cache_size: int = 4096,
    ) -> RbacModel:
        """Validate references and cycles, then precompute every transitive set.

        When ``permissions`` is given it is the catalogue: a role naming a permission outside it fails.
        """
        role_map: dict[str, Role] = {}
        for r in roles:
            if r.name in role_map:
                raise PolicyError(f"duplicate role {r.name!r}", path=f"roles.{r.name}")
            role_map[r.name] = r
        group_map: dict[str, Group] = {}
        for g in groups:
            if g.name in group_map:
                raise PolicyError(f"duplicate group {g.name!r}", path=f"groups.{g.name}")
            group_map[g.name] = g
        catalogue = None if permissions is None else {p.name for p in permissions}
        for r in role_map.values():
            for p in sorted(r.permissions):
                check_permission_name(p, f"roles.{r.name}.permissions")
                if catalogue is not None and p not in catalogue:
                    raise PolicyError(f"unknown permission {p!r}", path=f"roles.{r.name}.permissions")
            for inc in sorted(r.includes - role_map.keys()):
                raise PolicyError(f"unknown role {inc!r}", path=f"roles.{r.name}.includes")
        for g in group_map.values():
            for rn in sorted(g.roles - role_map.keys()):
                raise PolicyError(f"unknown role {rn!r}", path=f"groups.{g.name}.roles")
            if g.parent is not None and g.parent not in group_map:
                raise PolicyError(f"unknown parent group {g.parent!r}", path=f"groups.{g.name}.parent")

        includes = {n: r.includes for n, r in role_map.items()}
        role_roles = {n: transitive_closure(n, includes, "role") for n in role_map}
        role_perms = {
            n: frozenset(p for rr in closure for p in role_map[rr].permissions)
            for n, closure in role_roles.items()
        }
        parents = {n: frozenset({g.parent}) if g.parent else frozenset() for n, g in group_map.items()}
        ancestry = {n: transitive_closure(n, parents, "group") for n in group_map}
        return cls(role_map, group_map, role_roles, role_perms, ancestry, cache_size)

    @classmethod
    def from_data(cls, data: Mapping[str, object], *, path: str = "") -> RbacModel:
        """Load ``{"permissions": {...}, "roles": {...}, "groups": {...}}`` (see ``loaders``)."""
        from ostiary.policy.loaders import rbac_from_data

        return rbac_from_data(data, path=path)

    # -- queries --------------------------------------------------------------------------------------

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(self._roles)

    @property
    def group_names(self) -> frozenset[str]:
        return frozenset(self._groups)

    def role_permissions(self, role: str) -> frozenset[str]:
        """The transitive permissions of one role (empty when unknown)."""
        return self._role_perms.get(role, frozenset())

    def group_ancestry(self, group: str) -> frozenset[str]:
        """The group and all its ancestors (empty when unknown)."""
        return self._groups.get(group, frozenset())

    def grants(self, roles: frozenset[str], groups: frozenset[str] = frozenset()) -> EffectiveGrants:
        """Effective roles, groups and permissions of a holder of these direct roles and groups."""
        return self._lookup(roles, groups)

    def effective_permissions(
        self, roles: frozenset[str], groups: frozenset[str] = frozenset()
    ) -> frozenset[str]:
        return self._lookup(roles, groups).permissions

    def _expand(self, roles: frozenset[str], groups: frozenset[str]) -> EffectiveGrants:
        eff_groups = frozenset(a for g in groups for a in self._groups.get(g, ()))
        direct = set(roles & self._roles.keys())
        for g in eff_groups:
            direct |= self._group_roles[g]
        eff_roles = frozenset(r for d in direct for r in self._role_roles[d])
        granted_by: dict[str, str] = {}
        for r in sorted(eff_roles):
            for p in self._role_perms[r]:
                granted_by.setdefault(p, r)
        # a plain dict (read-only by contract): `.get` on it is on the hot path of every decision
        return EffectiveGrants(eff_roles, eff_groups, frozenset(granted_by), granted_by)
