"""The RBAC model cache: rebuilt when the stored authorization version moves, so a role or permission
change is seen on the very next request (SEC-58) while an unchanged model costs one key lookup."""

from __future__ import annotations

import asyncio

from ostiary.policy.model import Group, Permission, RbacModel, Role
from ostiary.storage.interfaces.rbac import RbacSnapshot, RbacStore


def model_from_snapshot(snapshot: RbacSnapshot) -> RbacModel:
    return RbacModel.build(
        [Role(r.name, r.permissions, r.includes, r.description) for r in snapshot.roles.values()],
        [Group(g.name, g.roles, g.parent, g.description) for g in snapshot.groups.values()],
        [Permission(name, description) for name, description in snapshot.permissions.items()],
    )


class RbacModelCache:
    """Implements authn's PermissionSource over the stored roles, groups and permissions."""

    def __init__(self, store: RbacStore) -> None:
        self._store = store
        self._version = -1
        self._model: RbacModel | None = None
        self._lock = asyncio.Lock()

    async def model(self) -> RbacModel:
        version = await self._store.version()
        if self._model is not None and version == self._version:
            return self._model
        async with self._lock:
            if self._model is None or version != self._version:
                snapshot = await self._store.snapshot()
                self._model = model_from_snapshot(snapshot)
                self._version = snapshot.version
            return self._model

    async def effective_permissions(self, roles: frozenset[str], groups: frozenset[str]) -> frozenset[str]:
        return (await self.model()).effective_permissions(roles, groups)
