"""The policy engine cache: one ``PolicyEngine`` (RBAC + ABAC rules + ACL tuples) built from storage.

Every call reads the stored authorization version (one indexed read of a one-row table); when it moved,
the engine is rebuilt from a snapshot and swapped in with one assignment, so a role, rule or tuple change
is seen on the very next request (SEC-58). Concurrent rebuilds collapse under a lock.

Fail closed (SEC-59): stored data that does not build (it cannot be written through the admin API or
the realm importer, which validate first — only by editing the database) yields a *deny-everything*
engine until the version moves again, and the error is logged. Keeping the last good engine instead
would keep a revoked grant alive, so it is not done.

The user's directly held roles and groups, needed for bearer callers (whose token carries scopes, not
roles), are cached per version too: any change of assignments bumps the version.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from ostiary.policy import AclIndex, AclTuple, PolicyEngine, PolicyError, RbacModel, Rule, RuleSet
from ostiary.policy.model import Group, Permission, Role
from ostiary.storage.interfaces.policies import PolicyRuleStore, PolicySnapshot
from ostiary.storage.interfaces.rbac import RbacSnapshot, RbacStore
from ostiary.storage.interfaces.users import UserAccess, UserAccessStore

log = logging.getLogger("ostiary.authorization")
DENY_ALL = PolicyEngine()  # no roles, rules or tuples: every decision is default-deny
ACCESS_CACHE_SIZE = 10_000


def model_from_snapshot(snapshot: RbacSnapshot) -> RbacModel:
    return RbacModel.build(
        [Role(r.name, r.permissions, r.includes, r.description) for r in snapshot.roles.values()],
        [Group(g.name, g.roles, g.parent, g.description) for g in snapshot.groups.values()],
        [Permission(name, description) for name, description in snapshot.permissions.items()],
    )


def rules_from_snapshot(snapshot: PolicySnapshot) -> RuleSet:
    return RuleSet(Rule.from_data(r.as_data(), f"policies[{r.id}]") for r in snapshot.rules)


def acl_from_snapshot(snapshot: PolicySnapshot) -> AclIndex:
    config = snapshot.acl
    return AclIndex(
        (AclTuple(r.subject, r.relation, r.resource) for r in snapshot.tuples),
        relations=config.relations,
        actions=config.actions,
    )


def engine_from_snapshots(rbac: RbacSnapshot, policies: PolicySnapshot) -> PolicyEngine:
    return PolicyEngine(model_from_snapshot(rbac), rules_from_snapshot(policies), acl_from_snapshot(policies))


class PolicyEngineCache:
    """Implements authn's ``PermissionSource``; ``engine()`` is what ``web.authorization`` decides with."""

    def __init__(self, rbac: RbacStore, policies: PolicyRuleStore, access: UserAccessStore) -> None:
        self._rbac = rbac
        self._policies = policies
        self._access = access
        self._version = -1
        self._engine: PolicyEngine | None = None
        self._lock = asyncio.Lock()
        self._access_cache: OrderedDict[str, UserAccess] = OrderedDict()
        self._access_version = -1

    @property
    def version(self) -> int:
        """The version the current engine was built at (-1 before the first build)."""
        return self._version

    async def engine(self) -> PolicyEngine:
        version = await self._rbac.version()
        engine = self._engine
        if engine is not None and version == self._version:
            return engine
        async with self._lock:
            if self._engine is None or version != self._version:
                await self._rebuild()
            assert self._engine is not None
            return self._engine

    async def _rebuild(self) -> None:
        rbac = await self._rbac.snapshot()
        policies = await self._policies.snapshot()
        try:
            engine = engine_from_snapshots(rbac, policies)
        except PolicyError as exc:
            log.error("stored authorization data does not build; denying everything: %s", exc.message)
            engine = DENY_ALL
        except Exception:
            log.exception("building the policy engine failed; denying everything")
            engine = DENY_ALL
        # The older of the two versions: a change landing between the reads rebuilds once more.
        self._engine, self._version = engine, min(rbac.version, policies.version)

    async def model(self) -> RbacModel:
        return (await self.engine()).rbac

    async def effective_permissions(self, roles: frozenset[str], groups: frozenset[str]) -> frozenset[str]:
        return (await self.engine()).rbac.effective_permissions(roles, groups)

    async def access_of(self, user_id: str) -> UserAccess:
        """The user's directly held roles and groups, cached until the authorization version moves."""
        await self.engine()
        if self._access_version != self._version:
            self._access_cache.clear()
            self._access_version = self._version
        found = self._access_cache.get(user_id)
        if found is not None:
            self._access_cache.move_to_end(user_id)
            return found
        version = self._version
        access = await self._access.access_of(user_id)
        if version == self._version == self._access_version:  # not invalidated meanwhile
            self._access_cache[user_id] = access
            if len(self._access_cache) > ACCESS_CACHE_SIZE:
                self._access_cache.popitem(last=False)
        return access


# The former name, kept for callers that only need RBAC.
RbacModelCache = PolicyEngineCache
