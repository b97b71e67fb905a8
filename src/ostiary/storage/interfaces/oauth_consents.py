"""Remembered OAuth consents (OIDC Core §3.1.2.4, SEC-41): what a user let a client do.

A consent is the set of scopes a user approved for one client. The consent page is skipped only
when every requested scope is already in it; the user lists and revokes consents from the account
pages, and a revocation also revokes the client's refresh tokens for that user (compose does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Consent:
    user_id: str
    client_id: str
    scopes: tuple[str, ...]  # sorted, unique
    granted_at: float  # first approval
    updated_at: float  # last time scopes were added


class ConsentStore(Protocol):
    async def get(self, user_id: str, client_id: str) -> Consent | None: ...

    async def grant(self, user_id: str, client_id: str, scopes: tuple[str, ...], *, at: float) -> Consent:
        """Add `scopes` to the user's consent for the client (creating it); returns the union.
        Race-safe: two concurrent grants for the same pair both end up in the stored union."""
        ...

    async def list_for_user(self, user_id: str) -> list[Consent]:
        """Ordered by client_id."""
        ...

    async def revoke(self, user_id: str, client_id: str) -> bool:
        """Forget the consent; True if there was one."""
        ...
