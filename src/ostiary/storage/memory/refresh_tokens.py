"""In-memory refresh-token store for unit tests and single-process embedding."""

from __future__ import annotations

from dataclasses import replace

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.refresh_tokens import RefreshFamily, RefreshTokenRecord


class MemoryRefreshTokenStore:
    """Implements RefreshTokenStore and RefreshFamilyIndex. No method awaits, so each one runs
    atomically on the event loop: that is what makes `rotate` a compare-and-set here."""

    def __init__(self) -> None:
        self._tokens: dict[str, RefreshTokenRecord] = {}
        self._families: dict[str, RefreshFamily] = {}

    async def create_family(self, family: RefreshFamily, first: RefreshTokenRecord) -> None:
        if family.id in self._families or first.digest in self._tokens:
            raise Conflict("The refresh-token family already exists.")
        self._families[family.id] = family
        self._tokens[first.digest] = replace(first, replay=None)

    async def get(self, digest: str) -> tuple[RefreshTokenRecord, RefreshFamily] | None:
        token = self._tokens.get(digest)
        if token is None:
            return None
        return token, self._families[token.family_id]

    async def rotate(
        self, digest: str, successor: RefreshTokenRecord, *, at: float, access_expires_at: float
    ) -> bool:
        token = self._tokens.get(digest)
        if token is None or token.state != "active":
            return False
        family = self._families[token.family_id]
        if family.revoked_at is not None or successor.digest in self._tokens:
            return False
        self._tokens[digest] = replace(
            token,
            state="rotated",
            rotated_at=at,
            successor_digest=successor.digest,
            replay=successor.replay,
        )
        if token.parent_digest is not None and token.parent_digest in self._tokens:
            self._tokens[token.parent_digest] = replace(self._tokens[token.parent_digest], replay=None)
        self._tokens[successor.digest] = replace(successor, replay=None)
        self._families[family.id] = replace(family, last_used_at=at, access_expires_at=access_expires_at)
        return True

    async def revoke_family(
        self, family_id: str, *, at: float, reason: str, user_id: str | None = None
    ) -> bool:
        family = self._families.get(family_id)
        if family is None or family.revoked_at is not None:
            return False
        if user_id is not None and family.user_id != user_id:
            return False
        self._families[family_id] = replace(family, revoked_at=at, revoke_reason=reason)
        for digest, token in list(self._tokens.items()):
            if token.family_id == family_id:
                self._tokens[digest] = replace(token, state="revoked", replay=None)
        return True

    async def revoke_user(self, user_id: str, *, at: float, reason: str) -> int:
        ids = [f.id for f in self._families.values() if f.user_id == user_id and f.revoked_at is None]
        for family_id in ids:
            await self.revoke_family(family_id, at=at, reason=reason)
        return len(ids)

    async def revoke_client(self, client_id: str, *, at: float, reason: str) -> int:
        ids = [f.id for f in self._families.values() if f.client_id == client_id and f.revoked_at is None]
        for family_id in ids:
            await self.revoke_family(family_id, at=at, reason=reason)
        return len(ids)

    async def list_for_user(self, user_id: str, *, now: float) -> list[RefreshFamily]:
        found = [f for f in self._families.values() if f.user_id == user_id and f.live(now)]
        return sorted(found, key=lambda f: (f.created_at, f.id))

    async def purge(self, *, before: float) -> int:
        ended = [
            f.id
            for f in self._families.values()
            if (f.revoked_at is not None and f.revoked_at < before) or f.expires_at < before
        ]
        for family_id in ended:
            del self._families[family_id]
        doomed = [d for d, t in self._tokens.items() if t.family_id not in self._families]
        for digest in doomed:
            del self._tokens[digest]
        return len(ended)
