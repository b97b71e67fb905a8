"""Single-use links sent by email: verification, password reset, magic-link login (SEC-06, SEC-75).

A token is shown only in the mail; the store keeps its SHA-256 digest. Every entry carries its
`purpose`, and a consume names the purpose it expects, so a reset token can never consume or delete
a magic-link entry (namespaced single use). `consume` is one conditional DELETE … RETURNING: of any
number of concurrent callers exactly one gets the entry.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

EmailTokenPurpose = Literal["verify_email", "reset_password", "magic_link"]
PURPOSES: frozenset[str] = frozenset({"verify_email", "reset_password", "magic_link"})


@dataclass(frozen=True)
class EmailToken:
    digest: str  # SHA-256 of the token in the link
    purpose: EmailTokenPurpose
    user_id: str
    email: str  # the address the link was sent to; a changed address voids the link
    created_at: float
    expires_at: float
    binding: str | None = None  # SHA-256 of the browser nonce (magic links), else None


class EmailTokenStore(Protocol):
    async def create(self, token: EmailToken) -> None: ...

    async def get(self, digest: str, purpose: str, *, now: float) -> EmailToken | None:
        """The live entry of this purpose, without consuming it (to show a confirmation page)."""
        ...

    async def consume(
        self, digest: str, purpose: str, *, now: float, binding: str | None = None
    ) -> EmailToken | None:
        """Delete and return the live entry of this purpose (and this binding, when the entry has
        one); None for every caller but one, and for a wrong purpose, binding or an expired entry."""
        ...

    async def delete_for_user(self, user_id: str, purposes: Collection[str]) -> int:
        """Void every outstanding link of these purposes (after a password reset, for instance)."""
        ...

    async def purge_expired(self, *, now: float) -> int: ...
