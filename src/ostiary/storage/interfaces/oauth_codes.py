"""Authorization codes at rest (RFC 6749 §4.1.2), keyed by the SHA-256 digest of the code only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# How long a store must remember that a code was redeemed after the code's own expiry, so that a
# late replay (SEC-29 tries again after 30 s) still finds the grant to revoke.
REDEEMED_MEMORY_SECONDS = 3600


@dataclass(frozen=True)
class AuthorizationCodeRecord:
    """Everything a code is bound to. Nothing here is secret; the code itself is never stored."""

    client_id: str
    user_id: str
    grant_id: str  # names every token this code produces, so a replay can revoke them (SEC-29)
    redirect_uri: str
    redirect_uri_provided: bool  # RFC 6749 §4.1.3: then the token request must repeat it
    scope: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float
    expires_at: float
    auth_time: float
    amr: tuple[str, ...] = ()
    acr: str | None = None
    nonce: str | None = None
    sid: str | None = None  # the browser session, for the OIDC `sid` claim and logout


class AuthorizationCodeStore(Protocol):
    """Single-use codes in their own namespace (SEC-75: no other single-use kind can touch them)."""

    async def save(self, code_digest: str, record: AuthorizationCodeRecord) -> None:
        """Store a new code. Stores may evict it after `record.expires_at` (Redis: EXPIREAT)."""
        ...

    async def consume(self, code_digest: str) -> AuthorizationCodeRecord | None:
        """Atomically take the code: the first caller gets the record, every later one None.

        In the same atomic step the store marks the digest as redeemed with `record.grant_id`
        (what `get_redeemed` returns), so a replay racing the first redemption already finds the
        grant to revoke. SQL: DELETE … RETURNING plus an insert in one transaction; Redis: a
        Lua script or GETDEL + SET in MULTI.
        """
        ...

    async def get_redeemed(self, code_digest: str) -> str | None:
        """The grant id of a code already consumed, kept `REDEEMED_MEMORY_SECONDS` past expiry."""
        ...
