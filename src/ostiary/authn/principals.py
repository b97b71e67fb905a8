"""Turns a proven identity (a session; first-party token grants) into a Principal.

The user record, its roles and groups and the permissions they expand to are cached per user in a
bounded LRU, each entry labelled with the authorization version it was read at (`VersionSource`, the
version the policy engine cache watches). Every change that a principal reflects bumps that version:
role, group and permission edits, assignments, and user records (username, email, disabled; see
storage/sqlalchemy/users.py). So a request whose entry carries the current version reads nothing
from the database, and a role change or a disabled account is seen on the next request — at once in
the worker that made the change, within the watch's staleness bound in the others (SEC-12, SEC-58;
docs/architecture.md).

Entries are written only from data read *after* their version was observed, so an entry is never older
than its label. Concurrent misses for one user share one load. A disabled or unknown user is never
cached. Cached records carry no password hash: routes that need it load the stored record.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Protocol

from ostiary.core.principal import Principal
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.interfaces.users import UserAccessStore, UserRecord, UserStore

PRINCIPAL_CACHE_SIZE = 10_000


class PermissionSource(Protocol):
    async def effective_permissions(
        self, roles: frozenset[str], groups: frozenset[str]
    ) -> frozenset[str]: ...


class VersionSource(Protocol):
    async def current_version(self) -> int:
        """The authorization version; moves whenever anything a principal holds may have changed."""
        ...


@dataclass(frozen=True)
class Authenticated:
    user: UserRecord
    principal: Principal
    session: SessionRecord | None = None


@dataclass(frozen=True)
class _Entry:
    version: int
    user: UserRecord
    principal: Principal


class PrincipalResolver:
    def __init__(
        self,
        users: UserStore,
        access: UserAccessStore,
        permissions: PermissionSource,
        *,
        versions: VersionSource | None = None,
        cache_size: int = PRINCIPAL_CACHE_SIZE,
    ) -> None:
        """Without `versions` (or with `cache_size=0`) every call reads the store."""
        self._users = users
        self._access = access
        self._permissions = permissions
        self._versions = versions
        self.cache_size = cache_size if versions is not None else 0
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Future[_Entry | None]] = {}

    async def for_user(self, user_id: str) -> tuple[UserRecord, Principal] | None:
        """The principal of an enabled user with current roles; None if unknown or disabled."""
        if self._versions is None or not self.cache_size:
            found = await self._load(user_id, -1)
        else:
            version = await self._versions.current_version()
            found = self._cache.get(user_id)
            if found is not None and found.version == version:
                self._cache.move_to_end(user_id)
            else:
                found = await self._shared_load(user_id, version)
        return None if found is None else (found.user, found.principal)

    async def for_session(
        self, record: SessionRecord, user: UserRecord | None = None
    ) -> Authenticated | None:
        """`user`: the record the caller just loaded for this session (login), saving a re-read."""
        if user is not None and user.id == record.user_id and not user.disabled:
            user = replace(user, password_hash=None)
            principal = await self._principal_of(user)
        else:
            found = await self.for_user(record.user_id)
            if found is None:
                return None
            user, principal = found
        principal = replace(
            principal, auth_time=record.auth_time, amr=record.amr, session_digest=record.digest
        )
        return Authenticated(user, principal, record)

    def clear(self) -> None:
        self._cache.clear()

    async def _shared_load(self, user_id: str, version: int) -> _Entry | None:
        """One load per (user, version) however many requests miss at once."""
        key = (user_id, version)
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load_and_keep(user_id, version))
            self._loading[key] = task
            task.add_done_callback(lambda done: self._loaded(key, done))
        # Shielded: a cancelled request must not cancel the load the others are waiting on.
        return await asyncio.shield(task)

    def _loaded(self, key: tuple[str, int], task: asyncio.Future[_Entry | None]) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter was cancelled

    async def _load_and_keep(self, user_id: str, version: int) -> _Entry | None:
        entry = await self._load(user_id, version)
        if entry is None:
            self._cache.pop(user_id, None)
            return None
        current = self._cache.get(user_id)
        if current is None or current.version <= version:  # never replace a newer entry
            self._cache[user_id] = entry
            self._cache.move_to_end(user_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return entry

    async def _load(self, user_id: str, version: int) -> _Entry | None:
        user = await self._users.get(user_id)
        if user is None or user.disabled:
            return None
        user = replace(user, password_hash=None)
        return _Entry(version, user, await self._principal_of(user))

    async def _principal_of(self, user: UserRecord) -> Principal:
        access = await self._access.access_of(user.id)
        permissions = await self._permissions.effective_permissions(access.roles, access.groups)
        return Principal(
            subject=user.id,
            kind="user",
            method="session",
            username=user.username,
            roles=access.roles,
            groups=access.groups,
            permissions=permissions,
        )
