"""In-memory consent store (OIDC Core §3.1.2.4, SEC-41) for unit tests and single-process embedding."""

from __future__ import annotations

from dataclasses import replace

from ostiary.core.clock import Clock, SystemClock
from ostiary.storage.interfaces.oauth_consents import Consent


class MemoryConsentStore:
    """Implements ConsentStore. No method awaits, so `grant`'s read-union-write cannot interleave
    with another coroutine: two concurrent grants both land in the union."""

    def __init__(self, clock: Clock | None = None) -> None:
        # Consents carry their own times (`grant(at=…)`); the clock is kept for a uniform signature.
        self._clock = clock or SystemClock()
        self._consents: dict[tuple[str, str], Consent] = {}

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        return self._consents.get((user_id, client_id))

    async def grant(self, user_id: str, client_id: str, scopes: tuple[str, ...], *, at: float) -> Consent:
        key = (user_id, client_id)
        current = self._consents.get(key)
        if current is None:
            consent = Consent(user_id, client_id, tuple(sorted(set(scopes))), granted_at=at, updated_at=at)
        else:
            union = tuple(sorted(set(current.scopes) | set(scopes)))
            consent = current if union == current.scopes else replace(current, scopes=union, updated_at=at)
        self._consents[key] = consent
        return consent

    async def list_for_user(self, user_id: str) -> list[Consent]:
        return [c for (uid, _), c in sorted(self._consents.items()) if uid == user_id]

    async def revoke(self, user_id: str, client_id: str) -> bool:
        return self._consents.pop((user_id, client_id), None) is not None
