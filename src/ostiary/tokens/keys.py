"""RFC 7517 §5 (JWK Set) and OIDC Core §10.1.1 (rotation): signing keys and the key ring.

Lifecycle of a key (SEC-23): `next` (published in the JWKS, not signing yet) → `active` (signs) →
`retired` (no longer signs, still verifies until `retired_at + grace`, grace being the longest token
lifetime plus clock leeway) → gone from the JWKS and from verification. A `KeyRing` is an immutable
snapshot of the live keys with everything parsed once; the `KeyManager` (key_manager.py) builds it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from ostiary.core.jwt_verify import PublicKey, VerificationKey
from ostiary.storage.interfaces.signing_keys import KeyState
from ostiary.tokens.key_material import PrivateKey, public_jwk


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey = field(repr=False, compare=False)
    public_key: PublicKey = field(repr=False, compare=False)
    created_at: float
    state: KeyState
    activated_at: float | None = None
    retired_at: float | None = None

    @cached_property
    def verification_key(self) -> VerificationKey:
        return VerificationKey(kid=self.kid, alg=self.alg, public_key=self.public_key)

    @cached_property
    def jwk(self) -> Mapping[str, str]:
        return MappingProxyType(public_jwk(self.public_key, kid=self.kid, alg=self.alg))

    def verifies_until(self, grace: float) -> float:
        """When this key stops verifying: never for next/active keys."""
        if self.state != "retired":
            return math.inf
        return (self.retired_at or 0.0) + grace


_JWKS_ORDER: dict[KeyState, int] = {"active": 0, "next": 1, "retired": 2}


class KeyRing:
    """The live keys at one instant: which key signs per algorithm, which keys verify, the JWKS."""

    def __init__(self, keys: Iterable[SigningKey], *, now: float, grace: float) -> None:
        self._all = tuple(keys)
        self._grace = grace
        live = [k for k in self._all if now < k.verifies_until(grace)]
        live.sort(key=lambda k: (_JWKS_ORDER[k.state], -(k.activated_at or k.created_at), k.kid))
        self.keys: tuple[SigningKey, ...] = tuple(live)
        if len({k.kid for k in live}) != len(live):
            raise ValueError("duplicate kid in the key ring")
        self.built_at = now
        # The snapshot must be rebuilt (see `at`) once the first retired key's grace has ended.
        self.stale_at = min((k.verifies_until(grace) for k in live), default=math.inf)
        self._signers: dict[str, SigningKey] = {}
        for key in live:  # sorted: the most recently activated key of an algorithm wins
            if key.state == "active":
                self._signers.setdefault(key.alg, key)
        self._verification = MappingProxyType({k.kid: k.verification_key for k in live})
        self._jwks = tuple(k.jwk for k in live)

    def at(self, now: float) -> KeyRing:
        """The same keys re-filtered at `now` (no decryption, no parsing)."""
        return KeyRing(self._all, now=now, grace=self._grace)

    def signing_key_for(self, alg: str) -> SigningKey:
        try:
            return self._signers[alg]
        except KeyError:
            raise LookupError(f"no active signing key for {alg}") from None

    def verification_keys(self) -> Mapping[str, VerificationKey]:
        """kid → pinned public key, for next, active and in-grace retired keys (read-only view)."""
        return self._verification

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document for `/.well-known/jwks.json` (a fresh copy each call)."""
        return {"keys": [dict(jwk) for jwk in self._jwks]}
