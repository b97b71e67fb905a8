"""Stateless API keys (seed 004's "implementation B"): a signed JWT checked without a database read.

    oskj_<header>.<claims>.<signature>
    header {"alg": "EdDSA", "typ": "osk+jwt", "kid": "osk-ed25519-1"}     (RFC 8725 §3.11 explicit typing)
    claims {iss, aud, sub, scope, iat, exp, jti}                          (exp is required)

The signing key is an Ed25519 key derived with HKDF from the instance secret, not a key of the
access-token ring: that ring rotates (SEC-23) and a retired key verifies only one access-token
lifetime longer, which would silently end every stateless key at the next routine rotation. A derived
key is the same in every worker that shares the instance secret and needs no storage; the `kid`
carries a version for a future rotation. Verification is `JwtVerifier`, which admits asymmetric
algorithms only (no HMAC/`none` confusion) and refuses any other `typ`, so an API key is never taken
for an access token or an ID token, nor the reverse.

Revocation is by `jti` against `RevocationList`, held in memory and reloaded when the authorization
version moves (every revocation bumps it: seen at once in the worker that revoked, within the version
watch's staleness bound — 1 s — in the others) and at least every `max_age` seconds (changes made
around ostiary, e.g. by hand in SQL). An unreachable store while the list is due for reload is a 503,
never an accepted revoked key (SEC-78).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ostiary.authn.api_keys_format import MAX_KEY_CHARS, STATELESS_PREFIX
from ostiary.authn.principals import VersionSource
from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.interfaces.api_keys import ApiKeyLookup, ApiKeyRecord

STATELESS_TYP = "osk+jwt"
SIGNING_PURPOSE = "api-keys:stateless:ed25519:v1"
KID = "osk-ed25519-1"
LEEWAY = 60  # for `iat` between workers; expiry itself is checked without leeway


@dataclass(frozen=True)
class StatelessClaims:
    jti: str
    subject: str
    scopes: frozenset[str]
    expires_at: float


class StatelessKeys:
    """Signs stateless keys and verifies them (signature, typ, issuer, audience, expiry) with no I/O.
    Verified keys are remembered by SHA-256 in a bounded LRU; a hit is re-checked for expiry."""

    def __init__(
        self, secret: InstanceSecret, issuer: str, clock: Clock, *, cache_size: int = 10_000
    ) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(secret.derive(SIGNING_PURPOSE, 32))
        self._issuer = issuer
        self._clock = clock
        key = VerificationKey(kid=KID, alg="EdDSA", public_key=self._private.public_key())
        self._verifier = JwtVerifier(
            issuer, issuer, {KID: key}, expected_typ=STATELESS_TYP, leeway=LEEWAY, clock=clock
        )
        self.cache_size = cache_size
        self._cache: OrderedDict[bytes, StatelessClaims] = OrderedDict()

    def sign(self, record: ApiKeyRecord) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._issuer,
            "sub": record.user_id,
            "scope": " ".join(sorted(record.scopes)),
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
            "jti": record.id,
        }
        headers = {"kid": KID, "typ": STATELESS_TYP}
        return STATELESS_PREFIX + jwt.encode(claims, self._private, algorithm="EdDSA", headers=headers)

    def verify(self, key: str) -> StatelessClaims:
        """The claims of a valid, unexpired key, or `InvalidToken` (its `reason` is safe to log)."""
        if not key.startswith(STATELESS_PREFIX) or len(key) > MAX_KEY_CHARS:
            raise InvalidToken("malformed")
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = self._cache.get(digest)
        if found is None:
            found = _claims(self._verifier.verify(key[len(STATELESS_PREFIX) :]))
        if not self._clock.now() < found.expires_at:
            self._cache.pop(digest, None)
            raise InvalidToken("expired")
        if self.cache_size:
            self._cache[digest] = found
            self._cache.move_to_end(digest)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found


def _claims(claims: Mapping[str, object]) -> StatelessClaims:
    jti, scope, exp = claims.get("jti"), claims.get("scope"), claims["exp"]
    if not isinstance(jti, str) or not jti or not isinstance(scope, str):
        raise InvalidToken("malformed")
    if not isinstance(exp, int | float) or not math.isfinite(exp):
        raise InvalidToken("malformed")
    return StatelessClaims(jti, str(claims["sub"]), frozenset(scope.split()), float(exp))


class RevocationList:
    """`jti → revoked_at` of the stateless keys that are revoked (or will be, after a rotation's
    grace), reloaded when the authorization version moves or `max_age` seconds have passed."""

    def __init__(
        self, lookup: ApiKeyLookup, versions: VersionSource, clock: Clock, *, max_age: float
    ) -> None:
        self._lookup = lookup
        self._versions = versions
        self._clock = clock
        self.max_age = max_age
        self._revoked: Mapping[str, float] = {}
        self._version = -1
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def revoked_at(self, jti: str) -> float | None:
        version = await self._versions.current_version()
        if not self._fresh(version):
            async with self._lock:  # one reload however many requests find the list stale
                if not self._fresh(version):
                    now = self._clock.now()
                    # Read after the version was observed, so the list is never older than its label.
                    self._revoked = await self._lookup.revoked_stateless(now=now)
                    self._version, self._loaded_at = version, now
        return self._revoked.get(jti)

    def _fresh(self, version: int) -> bool:
        age = self._clock.now() - self._loaded_at
        return self._version >= version and 0 <= age < self.max_age
