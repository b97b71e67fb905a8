"""Turns a proven identity (a session today; bearer tokens and API keys join later) into a Principal.

Roles and permissions are read fresh on every request (through a cache that is invalidated when
authorization data changes), so a role change is seen on the next request of an existing session.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from ostiary.core.principal import Principal
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.interfaces.users import UserAccessStore, UserRecord, UserStore


class PermissionSource(Protocol):
    async def effective_permissions(
        self, roles: frozenset[str], groups: frozenset[str]
    ) -> frozenset[str]: ...


@dataclass(frozen=True)
class Authenticated:
    user: UserRecord
    principal: Principal
    session: SessionRecord | None = None


class PrincipalResolver:
    def __init__(self, users: UserStore, access: UserAccessStore, permissions: PermissionSource) -> None:
        self._users = users
        self._access = access
        self._permissions = permissions

    async def for_user(self, user_id: str) -> tuple[UserRecord, Principal] | None:
        """The principal of an enabled user with fresh roles; None if unknown or disabled."""
        user = await self._users.get(user_id)
        if user is None or user.disabled:
            return None
        return user, await self._principal_of(user)

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

    async def for_session(
        self, record: SessionRecord, user: UserRecord | None = None
    ) -> Authenticated | None:
        """`user`: the record the caller just loaded for this session (login), saving a re-read."""
        if user is not None and user.id == record.user_id and not user.disabled:
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
