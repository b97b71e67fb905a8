"""RFC 9068 §4: validating JWT access tokens at a resource server, with keys from a `JwksCache`.

The checks themselves are `ostiary.core.jwt_verify.JwtVerifier`'s — the same code ostiary uses for
its own bearer path: `typ` exactly `at+jwt` (SEC-20), the algorithm pinned per key so `none`, HMAC
with a public key or any alg other than the key's is refused (SEC-15, SEC-16), no embedded or remote
keys (SEC-17), exact `iss` and `aud` (SEC-19), `exp`/`nbf`/`iat` with at most 60 s leeway (SEC-18),
size and charset limits before any decoding (SEC-21). This adapter adds the remote key set: keys
whose alg is not in `algorithms` are never used, and an unknown `kid` gets one throttled refetch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType

import jwt

from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey
from ostiary.sdk.errors import VerificationUnavailable
from ostiary.sdk.jwks import JwksCache
from ostiary.sdk.token_info import TokenInfo

# The asymmetric algorithms ostiary signs access tokens with; JwtVerifier knows a few more.
SUPPORTED_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"})


class JwtAccessTokenVerifier:
    """Verify ostiary access tokens for one API (`audience`) from one `issuer`."""

    def __init__(
        self,
        issuer: str,
        audience: str | Collection[str],
        jwks: JwksCache,
        algorithms: Collection[str] = ("ES256", "RS256", "EdDSA"),
        *,
        leeway: int = 60,
        max_token_bytes: int = 8192,
        clock: Clock | None = None,
    ) -> None:
        if not audience:
            raise ValueError("an audience is required: a token for another API must not pass (SEC-19)")
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}")
        self.issuer = issuer
        self._jwks = jwks
        self._algorithms = frozenset(algorithms)
        self._usable: Mapping[str, VerificationKey] = MappingProxyType({})
        self._usable_generation = -1
        self._jwt = JwtVerifier(
            issuer,
            audience,
            self._usable_keys,
            expected_typ="at+jwt",
            leeway=leeway,
            max_token_bytes=max_token_bytes,
            clock=clock,
        )

    async def verify(self, token: str) -> TokenInfo:
        """The token's info, or `InvalidToken` (refused) / `VerificationUnavailable` (no keys yet)."""
        await self._jwks.get()  # no I/O while the held set is fresh
        if not self._jwks.available:
            raise VerificationUnavailable("no JWKS has been fetched yet")
        try:
            claims = self._jwt.verify(token)
        except InvalidToken as exc:
            if exc.reason != "unknown_kid":
                raise
            # JwtVerifier has checked the token's shape and header before it looked up the kid.
            kid = jwt.get_unverified_header(token)["kid"]
            if kid in self._jwks.keys:
                raise InvalidToken("alg_not_allowed") from None  # published, but not for us
            if not await self._jwks.refresh_for_unknown_kid(kid):
                raise
            claims = self._jwt.verify(token)
        try:
            return TokenInfo.from_claims(claims)
        except ValueError:
            raise InvalidToken("malformed") from None

    def _usable_keys(self) -> Mapping[str, VerificationKey]:
        # Filtered once per key-set change, not per request.
        if self._usable_generation != self._jwks.generation:
            keys = self._jwks.keys
            self._usable = MappingProxyType(
                {kid: key for kid, key in keys.items() if key.alg in self._algorithms}
            )
            self._usable_generation = self._jwks.generation
        return self._usable
