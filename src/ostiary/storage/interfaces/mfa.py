"""Second factors: TOTP credentials, recovery codes and the pending MFA step of a login (SEC-47..50).

Secrets at rest: the TOTP seed only as AES-GCM ciphertext, recovery codes and challenge tokens only as
HMAC/SHA-256 digests. Every single-use thing is consumed by one conditional statement, so of any
number of concurrent uses exactly one wins: a TOTP time step (`use_step`), a recovery code
(`consume`), a login challenge (`consume`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

NO_STEP = -1  # `last_used_step` of a credential that has accepted no code yet


@dataclass(frozen=True)
class TotpCredential:
    user_id: str
    encrypted_seed: bytes
    active: bool  # False while enrollment waits for the first correct code
    created_at: float
    activated_at: float | None = None
    last_used_step: int = NO_STEP  # the newest accepted time step (RFC 6238 §5.2: never accept it again)


@dataclass(frozen=True)
class MfaChallenge:
    """The half-finished login between a correct password and the second factor (SEC-49).

    Not a credential: nothing but the second-step endpoint of the same `purpose` reads it.
    """

    digest: str  # SHA-256 of the token the client holds
    user_id: str
    purpose: str  # "session" (browser login) or "token" (first-party /auth/token)
    amr: tuple[str, ...]  # factors proven so far, e.g. ("pwd",)
    auth_time: float  # when the first factor was proven
    expires_at: float
    created_at: float = 0.0


class TotpStore(Protocol):
    async def get(self, user_id: str) -> TotpCredential | None: ...

    async def save_pending(self, user_id: str, encrypted_seed: bytes, *, now: float) -> bool:
        """Start (or restart) enrollment with a new seed; False when an active credential exists."""
        ...

    async def activate(
        self, user_id: str, encrypted_seed: bytes, *, step: int, recovery_digests: Sequence[str], now: float
    ) -> bool:
        """In one unit of work: turn the pending credential with exactly this seed active, record
        `step` as used, replace the recovery codes and mark the user `mfa_enabled`. False (and no
        change) when there is no such pending credential (replaced meanwhile, or already active)."""
        ...

    async def use_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used if it is newer than the last used one (atomic); False otherwise."""
        ...

    async def remove(self, user_id: str) -> bool:
        """Delete the credential and, unless the user still has a passkey (another second factor),
        the recovery codes and pending MFA logins, and clear `mfa_enabled` — in one unit of work.
        True when there was a credential (or a stale `mfa_enabled` flag) to remove."""
        ...


class RecoveryCodeStore(Protocol):
    async def replace(self, user_id: str, digests: Sequence[str], *, now: float) -> None:
        """Swap every code of the user for these (one unit of work: old codes die with it)."""
        ...

    async def consume(self, user_id: str, digest: str) -> bool:
        """Delete the code if the user holds it; True for exactly one of concurrent callers."""
        ...

    async def count(self, user_id: str) -> int: ...


class MfaChallengeStore(Protocol):
    async def create(self, challenge: MfaChallenge) -> None: ...

    async def get(self, digest: str, *, now: float) -> MfaChallenge | None:
        """The live (unexpired) challenge, without consuming it."""
        ...

    async def consume(self, digest: str, *, now: float) -> MfaChallenge | None:
        """Delete and return the live challenge; None for every caller but one."""
        ...

    async def purge_expired(self, *, now: float) -> int: ...
