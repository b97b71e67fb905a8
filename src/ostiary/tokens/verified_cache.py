"""A bounded LRU of verified JWTs, by SHA-256 digest of the token: verify a signature once, not per use.

A hit is re-checked every time: expiry (plus the caller's leeway) and that the signing key is still
in the ring, so a retired or purged key takes effect at once. Only tokens that passed verification
are ever put in; what is kept beside each is the caller's (the principal of a bearer token, the
claims of an introspected one).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import VerificationKey

T = TypeVar("T")


class VerifiedTokenCache(Generic[T]):
    def __init__(
        self,
        keys: Callable[[], Mapping[str, VerificationKey]],
        clock: Clock,
        *,
        size: int = 10_000,
        leeway: float = 0.0,
    ) -> None:
        if size < 0:
            raise ValueError("size must be ≥ 0 (0 turns the cache off)")
        self._keys = keys
        self._clock = clock
        self._leeway = leeway
        self.size = size
        self._entries: OrderedDict[bytes, tuple[T, float, str]] = OrderedDict()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> T | None:
        entry = self._entries.get(key) if self.size else None
        if entry is None:
            return None
        value, exp, kid = entry
        if self._clock.now() < exp + self._leeway and kid in self._keys():
            self._entries.move_to_end(key)
            return value
        del self._entries[key]
        return None

    def put(self, key: bytes, value: T, exp: float, kid: str) -> None:
        """Remember a token that has just passed verification, with its `exp` claim and the `kid`
        of the key that verified it (`JwtVerifier.verify_with_kid`)."""
        if not self.size:
            return
        self._entries[key] = (value, exp, kid)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
