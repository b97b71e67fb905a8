"""Signing keys at rest (RFC 7517 public parts; the private part only as AES-256-GCM ciphertext)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

KeyState = Literal["next", "active", "retired"]


@dataclass(frozen=True)
class StoredSigningKey:
    """One signing key as a store keeps it. Nothing here is secret in the clear.

    `encrypted_private_key` is opaque to stores (version byte, nonce, AES-GCM ciphertext of the
    PKCS#8 DER); `public_jwk` is the JSON of the public JWK (kid, alg, use and public members only).
    Timestamps are epoch seconds; `activated_at`/`retired_at` are set by `transition`.
    """

    kid: str
    alg: str
    encrypted_private_key: bytes
    public_jwk: str
    state: KeyState
    created_at: float
    activated_at: float | None = None
    retired_at: float | None = None


class SigningKeyStore(Protocol):
    async def list_all(self) -> list[StoredSigningKey]:
        """Every stored key, oldest first (by `created_at`)."""
        ...

    async def add(self, key: StoredSigningKey) -> None:
        """Insert a new key; a duplicate `kid` raises `ostiary.core.errors.Conflict`."""
        ...

    async def transition(self, kid: str, from_state: KeyState, to_state: KeyState, at: float) -> bool:
        """Compare-and-set the state: only if the key is currently `from_state`.

        Moving to `active` sets `activated_at = at`; moving to `retired` sets `retired_at = at`.
        Returns False (and changes nothing) if the key is missing or in another state, so that
        two nodes promoting at once cannot both win (SQL: UPDATE … WHERE kid = ? AND state = ?).
        """
        ...

    async def delete(self, kid: str) -> bool:
        """Remove a key for good; True if it existed."""
        ...
