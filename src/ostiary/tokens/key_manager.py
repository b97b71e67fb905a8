"""OIDC Core §10.1.1 / RFC 8725 §3.5: generation, rotation and retirement of signing keys.

Rotation is publish-then-sign (SEC-23): `rotate` stores a `next` key that appears in the JWKS at
once; `promote_due` makes it `active` only after `publish_delay`, long enough for every node and
every relying party's JWKS cache to have seen it, and retires the previous key. In a multi-node
deployment each node must reload (`load`) more often than `publish_delay`. Store transitions are
compare-and-set, so two nodes promoting at once cannot both win.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace

from ostiary.core.clock import Clock
from ostiary.core.errors import NotFound
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.interfaces.signing_keys import KeyState, SigningKeyStore, StoredSigningKey
from ostiary.tokens.key_material import (
    decrypt_private_key,
    encrypt_private_key,
    generate_private_key,
    jwk_thumbprint,
    public_jwk,
)
from ostiary.tokens.keys import KeyRing, SigningKey


@dataclass(frozen=True)
class KeyConfig:
    # ES256 signs access tokens by default; RS256 must exist for OIDC ID tokens (OIDC Core §15.1).
    required_algs: tuple[str, ...] = ("ES256", "RS256")
    publish_delay: float = 0.0
    max_token_lifetime: float = 3600.0  # the longest lifetime of anything signed (ID tokens too)
    clock_leeway: float = 60.0

    @property
    def grace(self) -> float:
        """How long a retired key keeps verifying: the last token it signed must expire first."""
        return self.max_token_lifetime + self.clock_leeway


class KeyManager:
    def __init__(
        self, store: SigningKeyStore, secret: InstanceSecret, clock: Clock, config: KeyConfig | None = None
    ) -> None:
        self._store = store
        self._secret = secret
        self._clock = clock
        self._config = config or KeyConfig()
        self._lock = asyncio.Lock()
        self._parsed: dict[str, SigningKey] = {}  # kid → parsed key: each key is decrypted once
        self._ring: KeyRing | None = None

    def ring(self) -> KeyRing:
        """The current snapshot, re-filtered without I/O when a retired key's grace has ended."""
        ring = self._ring
        if ring is None:
            raise RuntimeError("KeyManager.load() has not run")
        now = self._clock.now()
        if now >= ring.stale_at:
            ring = self._ring = ring.at(now)
        return ring

    async def load(self) -> KeyRing:
        """Read the store; on first start create an active key for each required algorithm."""
        async with self._lock:
            stored = await self._store.list_all()
            for alg in self._config.required_algs:
                if not any(k.alg == alg and k.state == "active" for k in stored):
                    await self._ensure_signer(alg, stored)
                    stored = await self._store.list_all()
            return self._rebuild(stored)

    async def rotate(self, alg: str = "ES256") -> SigningKey:
        """Add a `next` key: published now, signing once `promote_due` finds it due."""
        async with self._lock:
            kid = await self._create(alg, "next")
            ring = self._rebuild(await self._store.list_all())
        return next(k for k in ring.keys if k.kid == kid)

    async def promote_due(self) -> KeyRing:
        """Activate `next` keys published for `publish_delay`, retire what they replace, and delete
        retired keys whose grace has ended. Safe to call periodically from every node."""
        async with self._lock:
            now, stored = self._clock.now(), await self._store.list_all()
            for alg in sorted({k.alg for k in stored}):
                due = [
                    k
                    for k in stored
                    if k.alg == alg and k.state == "next" and k.created_at + self._config.publish_delay <= now
                ]
                if not due:
                    continue
                newest = max(due, key=lambda k: (k.created_at, k.kid))
                if not await self._store.transition(newest.kid, "next", "active", now):
                    continue  # another node promoted it first
                due_kids = {k.kid for k in due}
                for old in stored:
                    if (
                        old.alg == alg
                        and old.kid != newest.kid
                        and (old.state == "active" or old.kid in due_kids)
                    ):
                        await self._store.transition(old.kid, old.state, "retired", now)
            for old in await self._store.list_all():
                if old.state == "retired" and (old.retired_at or 0.0) + self._config.grace <= now:
                    await self._store.delete(old.kid)
            return self._rebuild(await self._store.list_all())

    async def retire(self, kid: str, *, purge: bool = False) -> KeyRing:
        """Stop signing with `kid` now. It keeps verifying through the grace period unless `purge`
        (key compromise), which removes it at once. If it was the active key, a `next` key of the
        same algorithm is promoted immediately, or a new key is created and activated, so that the
        server can always sign; relying parties re-fetch the JWKS on the unknown `kid`."""
        async with self._lock:
            stored = await self._store.list_all()
            target = next((k for k in stored if k.kid == kid), None)
            if target is None:
                raise NotFound("No signing key with this kid.")
            if purge:
                await self._store.delete(kid)
            elif target.state != "retired":
                await self._store.transition(kid, target.state, "retired", self._clock.now())
            stored = await self._store.list_all()
            if target.state == "active" and not any(
                k.alg == target.alg and k.state == "active" for k in stored
            ):
                await self._ensure_signer(target.alg, stored)
                stored = await self._store.list_all()
            return self._rebuild(stored)

    async def _ensure_signer(self, alg: str, stored: list[StoredSigningKey]) -> None:
        waiting = [k for k in stored if k.alg == alg and k.state == "next"]
        if waiting:
            newest = max(waiting, key=lambda k: (k.created_at, k.kid))
            if await self._store.transition(newest.kid, "next", "active", self._clock.now()):
                return
        await self._create(alg, "active")

    async def _create(self, alg: str, state: KeyState) -> str:
        # RSA-3072 generation takes ~0.5 s: keep it off the event loop.
        private_key = await asyncio.to_thread(generate_private_key, alg)
        public_key = private_key.public_key()
        kid, now = jwk_thumbprint(public_key), self._clock.now()
        await self._store.add(
            StoredSigningKey(
                kid=kid,
                alg=alg,
                encrypted_private_key=encrypt_private_key(private_key, kid=kid, alg=alg, secret=self._secret),
                public_jwk=json.dumps(public_jwk(public_key, kid=kid, alg=alg), sort_keys=True),
                state=state,
                created_at=now,
                activated_at=now if state == "active" else None,
            )
        )
        self._parsed[kid] = SigningKey(kid, alg, private_key, public_key, now, state)
        return kid

    def _rebuild(self, stored: list[StoredSigningKey]) -> KeyRing:
        keys = []
        for record in stored:
            key = self._parsed.get(record.kid)
            if key is None:
                private_key = decrypt_private_key(
                    record.encrypted_private_key, kid=record.kid, alg=record.alg, secret=self._secret
                )
                key = SigningKey(
                    record.kid, record.alg, private_key, private_key.public_key(), record.created_at, "next"
                )
            if (key.state, key.activated_at, key.retired_at) != (
                record.state,
                record.activated_at,
                record.retired_at,
            ):
                key = replace(
                    key, state=record.state, activated_at=record.activated_at, retired_at=record.retired_at
                )
            keys.append(key)
        self._parsed = {k.kid: k for k in keys}
        self._ring = KeyRing(keys, now=self._clock.now(), grace=self._config.grace)
        return self._ring
