"""Passkeys (WebAuthn credentials) and the single-use challenges of their ceremonies (SEC-51).

A credential is found by `credential_key`, the SHA-256 of the authenticator's credential id, which is
unique across all users: a credential id already bound to one account cannot be registered to
another. Challenges are kept only as the SHA-256 of the random bytes the browser signs; `consume`
deletes and returns one in a single statement, so of concurrent uses exactly one wins. The signature
counter advances by one conditional statement too (`record_use`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class PasskeyRecord:
    id: str  # our public handle (rename, remove); never the credential id
    user_id: str
    credential_key: str  # SHA-256 hex of `credential_id`: the unique lookup key
    credential_id: bytes
    public_key: bytes  # COSE_Key as the authenticator sent it
    sign_count: int
    user_handle: bytes  # the WebAuthn user.id sent at registration
    name: str
    discoverable: bool  # registered as a passkey (resident key, UV): usable without a username
    transports: tuple[str, ...] = ()
    aaguid: str = ""
    backed_up: bool = False  # the BS flag of the last ceremony: a synced passkey
    created_at: float = 0.0
    last_used_at: float | None = None


@dataclass(frozen=True)
class PasskeyChallenge:
    digest: str  # SHA-256 hex of the challenge bytes
    purpose: str  # register_passkey | register_key | second_factor | passwordless
    user_id: str | None  # whose ceremony; None for a passwordless login (the user is not known yet)
    binding: str | None  # MFA challenge digest, or SHA-256 of the browser's nonce (passwordless)
    expires_at: float
    created_at: float = 0.0


class AddOutcome(Enum):
    ADDED = "added"
    ADDED_FIRST_FACTOR = "added_first_factor"  # and the user's `mfa_enabled` was turned on
    DUPLICATE = "duplicate"  # the credential id is registered already (to anyone)


@dataclass(frozen=True)
class RemoveOutcome:
    removed: bool
    mfa_turned_off: bool = False  # it was the user's last second factor


class PasskeyStore(Protocol):
    async def add(self, record: PasskeyRecord, *, recovery_digests: Sequence[str]) -> AddOutcome:
        """Insert the credential. If the user had no second factor yet, in the same unit of work turn
        `mfa_enabled` on and replace the recovery codes with `recovery_digests`."""
        ...

    async def get(self, credential_key: str) -> PasskeyRecord | None: ...

    async def list_user(self, user_id: str) -> list[PasskeyRecord]: ...

    async def record_use(self, credential_key: str, sign_count: int, *, backed_up: bool, now: float) -> bool:
        """Store the new counter if it is greater than the stored one, or both are 0 (authenticators
        without a counter, such as synced passkeys). Atomic; False leaves the record unchanged."""
        ...


class PasskeyEditStore(Protocol):
    async def rename(self, user_id: str, passkey_id: str, name: str) -> bool: ...

    async def remove(self, user_id: str, passkey_id: str) -> RemoveOutcome:
        """Delete the user's credential. When no second factor remains (no passkey, no active TOTP),
        in the same unit of work clear `mfa_enabled`, the recovery codes and pending MFA logins."""
        ...


class PasskeyRepository(PasskeyStore, PasskeyEditStore, Protocol):
    """Both halves: what a user's own passkey settings use."""


class PasskeyChallengeStore(Protocol):
    async def create(self, challenge: PasskeyChallenge) -> None: ...

    async def consume(self, digest: str, *, now: float) -> PasskeyChallenge | None:
        """Delete and return the live challenge; None for every caller but one, and once expired."""
        ...

    async def purge_expired(self, *, now: float) -> int: ...
