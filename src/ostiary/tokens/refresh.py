"""RFC 9700 §4.14.2 / RFC 6749 §10.4: rotating refresh tokens with reuse detection and a retry window.

A refresh token is 256 random bits with a recognisable prefix, stored only as its SHA-256 digest.
Every use rotates it to exactly one successor through the store's single conditional write, so N
concurrent uses produce one successor (SEC-74). An honest client that retries (two tabs, a lost
response) within `retry_window` seconds gets the *same* successor back: the successor's value is kept
on the rotated row sealed with AES-GCM under a key derived from the instance secret, so storage still
holds digests only (LANDSCAPE §3.1). Only the newest rotation qualifies — its successor must still be
unused — so a token several generations old is never redeemed (django-oauth-toolkit#1617). Any other
reuse of a rotated token is treated as theft: the whole family is revoked and audited (SEC-35).

`on_family_revoked` is told of every family this class revokes one by one (reuse, revocation, a
disabled user), so that the OAuth side can also refuse the family's access tokens (an OAuth
family's id is its grant id). Bulk revocations (`revoke_user`, `revoke_client`) report a count only;
their access tokens end through the user's or client's not-before (compose/not_before.py).
Clients may ask for shorter lifetimes than the server's (`start`, `redeem`), never longer ones.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ostiary.authn.audit import Auditor
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import OstiaryError
from ostiary.core.secrets import InstanceSecret, constant_time_equals, sha256_hex
from ostiary.storage.interfaces.refresh_tokens import (
    RefreshFamily,
    RefreshFamilyIndex,
    RefreshTokenRecord,
    RefreshTokenStore,
)

TOKEN_PREFIX = "ort_"  # lets secret scanners recognise a leaked ostiary refresh token
MAX_TOKEN_LENGTH = 128
REPLAY_PURPOSE = "refresh-replay"
_BLOB_VERSION = b"\x01"
_NONCE_BYTES = 12


class InvalidGrant(OstiaryError):
    """One answer for every refresh failure: unknown, expired, revoked, reused or another client's."""

    status = 400
    code = "invalid_grant"

    def default_message(self) -> str:
        return "The refresh token is invalid or expired."


@dataclass(frozen=True)
class RefreshConfig:
    idle_seconds: int = 14 * 86400
    absolute_seconds: int = 30 * 86400
    retry_window: float = 10.0
    access_ttl: int = 600
    early_leeway: float = 60.0  # refreshing this close to the access token's expiry is normal


@dataclass(frozen=True)
class Rotation:
    refresh_token: str  # the successor's value: shown to the client, never stored in clear
    family: RefreshFamily
    replayed: bool = False  # the same successor handed out again inside the retry window
    early: bool = False  # refreshed while the family's last access token was still valid


class RefreshStore(RefreshTokenStore, RefreshFamilyIndex, Protocol):
    """A store that implements both protocols (every ostiary implementation does)."""


# Told the id and the reason of a family revoked by this class; its exceptions reach the caller.
FamilyRevoked = Callable[[str, str], Awaitable[object]]


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest_of(token: str) -> str:
    return sha256_hex(token)


class RefreshTokens:
    def __init__(
        self,
        store: RefreshStore,
        secret: InstanceSecret,
        clock: Clock,
        auditor: Auditor,
        config: RefreshConfig | None = None,
        *,
        on_family_revoked: FamilyRevoked | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = auditor
        self.config = config or RefreshConfig()
        self._aead = AESGCM(secret.derive(REPLAY_PURPOSE))
        self.on_family_revoked = on_family_revoked  # set by compose once the OAuth side exists

    def access_expiry(self, now: float) -> float:
        return math.floor(now) + self.config.access_ttl

    def _idle(self, idle_seconds: float | None) -> float:
        """A client's idle lifetime, capped by the server's."""
        if idle_seconds is None:
            return self.config.idle_seconds
        return max(0.0, min(idle_seconds, self.config.idle_seconds))

    async def start(
        self,
        user_id: str,
        client_id: str,
        device: str,
        scope: str,
        auth_time: float,
        *,
        family_id: str | None = None,
        absolute_seconds: float | None = None,
        idle_seconds: float | None = None,
    ) -> tuple[str, RefreshFamily]:
        """A new family (one login on one device) and its first token. OAuth grants pass their
        `grant_id` as `family_id`, so revoking the grant finds the family (SEC-29), and the
        client's lifetimes, which are capped by the server's."""
        now = self._clock.now()
        value = new_token_value()
        absolute: float = self.config.absolute_seconds
        if absolute_seconds is not None:
            absolute = max(0.0, min(absolute_seconds, absolute))
        family = RefreshFamily(
            id=family_id or secrets.token_urlsafe(16),
            user_id=user_id,
            client_id=client_id,
            device=device[:256],
            scope=scope,
            auth_time=auth_time,
            created_at=now,
            last_used_at=now,
            expires_at=now + absolute,
            access_expires_at=self.access_expiry(now),
        )
        first = RefreshTokenRecord(
            digest=digest_of(value),
            family_id=family.id,
            state="active",
            created_at=now,
            expires_at=min(now + self._idle(idle_seconds), family.expires_at),
        )
        await self._store.create_family(family, first)
        return value, family

    async def peek(self, presented: str, *, client_id: str) -> RefreshFamily | None:
        """Read-only: the family of `presented` if `redeem` would rotate it now (an active, unexpired
        token of this client's live family), else None. Lets a grant refuse a bad request before
        the token is spent; `redeem` decides everything again, so a race only costs that check."""
        found = await self._find(presented)
        if found is None:
            return None
        token, family = found
        now = self._clock.now()
        if family.client_id != client_id or not family.live(now):
            return None
        if token.state != "active" or now >= token.expires_at:
            return None  # a rotated token is redeem's to judge: a replay, or a theft signal
        return family

    async def _find(self, presented: str) -> tuple[RefreshTokenRecord, RefreshFamily] | None:
        if not presented.startswith(TOKEN_PREFIX) or len(presented) > MAX_TOKEN_LENGTH:
            return None
        return await self._store.get(digest_of(presented))

    async def redeem(
        self, presented: str, *, client_id: str, meta: RequestMeta, idle_seconds: float | None = None
    ) -> Rotation:
        """Rotate `presented` to its one successor, or hand back the same successor inside the
        retry window; raise `InvalidGrant` otherwise (revoking the family on a theft signal).
        The successor lives `idle_seconds` (the client's, capped by the server's) unless used."""
        found = await self._find(presented)
        if found is None:
            raise InvalidGrant()
        token, family = found
        digest = token.digest
        now = self._clock.now()
        # SEC-35: another client's token, a revoked family, or past the absolute expiry (SEC-11).
        if family.client_id != client_id or not family.live(now):
            raise InvalidGrant()
        if token.state == "rotated":
            return await self._replay_or_revoke(token, family, now, meta)
        if token.state != "active" or now >= token.expires_at:
            raise InvalidGrant()
        value = new_token_value()
        successor = RefreshTokenRecord(
            digest=digest_of(value),
            family_id=family.id,
            state="active",
            created_at=now,
            expires_at=min(now + self._idle(idle_seconds), family.expires_at),
            parent_digest=digest,
            replay=self._seal(value, parent=digest),
        )
        if await self._store.rotate(digest, successor, at=now, access_expires_at=self.access_expiry(now)):
            early = now < family.access_expires_at - self.config.early_leeway
            if early:
                await self._audit.record(
                    "token.refresh_early",
                    meta,
                    outcome="warning",
                    subject=family.user_id,
                    client_id=family.client_id,
                    family=family.id,
                    access_expires_in=round(family.access_expires_at - now),
                )
            return Rotation(value, family, early=early)
        # Lost the race (or the family was revoked meanwhile): decide as for any rotated token.
        again = await self._store.get(digest)
        if again is None or again[0].state != "rotated":
            raise InvalidGrant()
        return await self._replay_or_revoke(again[0], again[1], now, meta)

    async def _replay_or_revoke(
        self, token: RefreshTokenRecord, family: RefreshFamily, now: float, meta: RequestMeta
    ) -> Rotation:
        in_window = token.rotated_at is not None and now - token.rotated_at < self.config.retry_window
        if in_window and token.replay is not None and token.successor_digest is not None:
            successor = await self._store.get(token.successor_digest)
            if successor is not None and successor[0].state == "active" and successor[1].live(now):
                value = self._open(token.replay, parent=token.digest)
                if value is not None and constant_time_equals(digest_of(value), token.successor_digest):
                    return Rotation(value, successor[1], replayed=True)
        if await self._store.revoke_family(family.id, at=now, reason="reuse_detected"):
            await self._audit.record(
                "token.reuse_detected",
                meta,
                outcome="failure",
                subject=family.user_id,
                client_id=family.client_id,
                family=family.id,
                rotated_ago=round(now - (token.rotated_at or now), 3),
            )
            await self._revoked(family.id, "reuse_detected")
        raise InvalidGrant()

    async def revoke(self, presented: str, meta: RequestMeta, *, reason: str = "logout") -> str | None:
        """RFC 7009: revoke the family of any token of it (active or not). Returns the user id
        when a live family was revoked; unknown tokens are silently ignored."""
        found = await self._find(presented)
        if found is None:
            return None
        _, family = found
        if await self._store.revoke_family(family.id, at=self._clock.now(), reason=reason):
            await self._audit.record(
                "token.revoke", meta, actor=family.user_id, subject=family.user_id, family=family.id
            )
            await self._revoked(family.id, reason)
            return family.user_id
        return None

    async def revoke_family(self, family_id: str, *, reason: str, user_id: str | None = None) -> bool:
        revoked = await self._store.revoke_family(
            family_id, at=self._clock.now(), reason=reason, user_id=user_id
        )
        if revoked:
            await self._revoked(family_id, reason)
        return revoked

    async def revoke_user(self, user_id: str, *, reason: str) -> int:
        return await self._store.revoke_user(user_id, at=self._clock.now(), reason=reason)

    async def revoke_client(self, client_id: str, *, reason: str) -> int:
        """Revoke every live family of a client (a disabled client); returns how many."""
        return await self._store.revoke_client(client_id, at=self._clock.now(), reason=reason)

    async def _revoked(self, family_id: str, reason: str) -> None:
        if self.on_family_revoked is not None:
            await self.on_family_revoked(family_id, reason)

    async def families(self, user_id: str) -> list[RefreshFamily]:
        return await self._store.list_for_user(user_id, now=self._clock.now())

    def _seal(self, value: str, *, parent: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _BLOB_VERSION + nonce + self._aead.encrypt(nonce, value.encode(), _aad(parent))

    def _open(self, blob: bytes, *, parent: str) -> str | None:
        if len(blob) <= 1 + _NONCE_BYTES or blob[:1] != _BLOB_VERSION:
            return None
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, _aad(parent)).decode()
        except (InvalidTag, UnicodeDecodeError):
            return None


def _aad(parent: str) -> bytes:
    # Bound to the row it sits on: a sealed successor copied onto another token does not open.
    return f"ostiary-refresh-replay|{parent}".encode()
