"""The policy engine cache: one ``PolicyEngine`` (RBAC + ABAC rules + ACL tuples) built from storage.

The engine is labelled with the stored authorization version (one indexed read of a one-row table,
bumped by every change of roles, groups, rules, tuples, assignments and user records). `VersionWatch`
decides when that version is read again: with ``max_staleness=0`` on every call; with a bound of, say,
1 s, at most once per bound per process, and at once after a change made by this process (the hint of
``storage/sqlalchemy/versioning.py``). So a change is seen by the next request of the worker that made
it, and by every other worker within the bound (SEC-58, docs/architecture.md). When the version moved,
the engine is rebuilt from a snapshot and swapped in with one assignment; concurrent rebuilds collapse
under a lock. The same watched version labels the per-user principals (authn/principals.py).

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
from collections.abc import Awaitable, Callable

from ostiary.core.clock import Clock, SystemClock
from ostiary.policy import AclIndex, AclTuple, PolicyEngine, PolicyError, RbacModel, Rule, RuleSet
from ostiary.policy.model import Group, Permission, Role
from ostiary.storage.interfaces.policies import PolicyRuleStore, PolicySnapshot
from ostiary.storage.interfaces.rbac import RbacSnapshot, RbacStore
from ostiary.storage.interfaces.users import UserAccess, UserAccessStore

log = logging.getLogger("ostiary.authorization")
DENY_ALL = PolicyEngine()  # no roles, rules or tuples: every decision is default-deny
ACCESS_CACHE_SIZE = 10_000
# How stale the authorization version may be in one worker for changes made by *another* worker or
# process (its own changes are seen at once). Bounds how long a role removal or a disabled account
# can go unnoticed there (SEC-12 suggests ≤ 1 s); docs/architecture.md.
AUTHZ_MAX_STALENESS_SECONDS = 1.0
# How long a write of this process may stay invisible before it is taken as rolled back (the hint
# is noted before commit). Far longer than a bump-to-commit gap; until then the version is re-read.
LOCAL_WRITE_SETTLE_SECONDS = 5.0


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


class VersionWatch:
    """The authorization version as this process knows it, re-read when older than `max_staleness`
    seconds or below the version this process itself wrote (`local`)."""

    def __init__(
        self,
        read: Callable[[], Awaitable[int]],
        *,
        max_staleness: float = 0.0,
        clock: Clock | None = None,
        local: Callable[[], int] | None = None,
    ) -> None:
        self._read = read
        self.max_staleness = max_staleness
        self._clock = clock or SystemClock()
        self._local = local or (lambda: 0)
        self.known = -1
        self._checked_at = 0.0
        self._reads = 0  # sequence numbers: a slow read never overwrites a newer one
        self._applied = 0
        self._unmet_since: float | None = None
        self._given_up = 0  # a local version that never became visible (its transaction rolled back)

    async def current(self) -> int:
        now = self._clock.now()
        local = self._local()
        age = now - self._checked_at  # a clock stepping back counts as stale, never as fresh
        if 0.0 <= age < self.max_staleness and (self.known >= local or local <= self._given_up):
            return self.known
        self._reads += 1
        seq = self._reads
        version = await self._read()
        if seq > self._applied:
            self._applied = seq
            self.known, self._checked_at = version, now
            if version >= local:
                self._unmet_since = None
            elif self._unmet_since is None:
                self._unmet_since = now
            elif now - self._unmet_since > LOCAL_WRITE_SETTLE_SECONDS:
                self._given_up, self._unmet_since = local, None
        return version

    def saw(self, version: int) -> None:
        """Record a version read along with data (a snapshot); the watch never moves back here."""
        if version > self.known:
            self.known, self._checked_at = version, self._clock.now()
            self._applied = self._reads  # reads still in flight began earlier: drop their answers


class PolicyEngineCache:
    """Implements authn's ``PermissionSource`` and ``VersionSource``; ``engine()`` is what
    ``web.authorization`` decides with."""

    def __init__(
        self,
        rbac: RbacStore,
        policies: PolicyRuleStore,
        access: UserAccessStore,
        *,
        max_staleness: float = 0.0,
        clock: Clock | None = None,
        local_version: Callable[[], int] | None = None,
    ) -> None:
        self._rbac = rbac
        self._policies = policies
        self._access = access
        self._watch = VersionWatch(
            rbac.version, max_staleness=max_staleness, clock=clock, local=local_version
        )
        self._version = -1
        self._engine: PolicyEngine | None = None
        self._lock = asyncio.Lock()
        self._access_cache: OrderedDict[str, UserAccess] = OrderedDict()
        self._access_version = -1

    @property
    def version(self) -> int:
        """The version the current engine was built at (-1 before the first build)."""
        return self._version

    @property
    def watch(self) -> VersionWatch:
        return self._watch

    async def current_version(self) -> int:
        """The authorization version, fresh within the staleness bound; labels cached principals."""
        return await self._watch.current()

    async def engine(self) -> PolicyEngine:
        version = await self._watch.current()
        engine = self._engine
        if engine is not None and version == self._version:
            return engine
        async with self._lock:
            # The newest version any caller has seen meanwhile: one rebuild serves them all.
            if self._engine is None or self._watch.known != self._version:
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
        self._watch.saw(self._version)

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
