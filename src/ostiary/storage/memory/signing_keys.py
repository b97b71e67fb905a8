"""In-memory signing-key store for unit tests and single-process embedding."""

from __future__ import annotations

from dataclasses import replace

from ostiary.core.errors import Conflict
from ostiary.storage.interfaces.signing_keys import KeyState, StoredSigningKey


class MemorySigningKeyStore:
    """Implements SigningKeyStore. No method awaits, so each runs atomically on the event loop."""

    def __init__(self) -> None:
        self._by_kid: dict[str, StoredSigningKey] = {}

    async def list_all(self) -> list[StoredSigningKey]:
        return sorted(self._by_kid.values(), key=lambda k: (k.created_at, k.kid))

    async def add(self, key: StoredSigningKey) -> None:
        if key.kid in self._by_kid:
            raise Conflict("A signing key with this kid already exists.")
        self._by_kid[key.kid] = key

    async def transition(self, kid: str, from_state: KeyState, to_state: KeyState, at: float) -> bool:
        current = self._by_kid.get(kid)
        if current is None or current.state != from_state:
            return False
        if to_state == "active":
            self._by_kid[kid] = replace(current, state=to_state, activated_at=at)
        elif to_state == "retired":
            self._by_kid[kid] = replace(current, state=to_state, retired_at=at)
        else:
            self._by_kid[kid] = replace(current, state=to_state)
        return True

    async def delete(self, kid: str) -> bool:
        return self._by_kid.pop(kid, None) is not None
