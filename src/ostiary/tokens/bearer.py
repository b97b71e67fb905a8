"""RFC 6750 / RFC 9068 §4: a bearer JWT turned into an `Authenticated` caller, with no I/O.

A valid token is checked by `JwtVerifier` against the in-memory key ring and its claims become the
Principal: `sub`, `scope` (the permissions granted to the token, which are also its `permissions`),
`auth_time`, `client_id`, `method="bearer"`. No database is read, so the caller's record is a stub
built from the claims (`BearerAuthenticated.user`): routes that need the stored account load it.

Verified tokens are cached by SHA-256 digest in a bounded LRU (tokens/verified_cache.py). A hit is
re-checked every time: expiry (with the verifier's leeway) and that the signing key is still in the
ring, so a purged key takes effect at once. The cache never holds a token that failed verification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ostiary.authn.principals import Authenticated
from ostiary.core.clock import Clock
from ostiary.core.jwt_verify import InvalidToken, JwtVerifier, VerificationKey
from ostiary.core.principal import Principal
from ostiary.storage.interfaces.users import UserRecord
from ostiary.tokens.verified_cache import VerifiedTokenCache


@dataclass(frozen=True)
class BearerAuthenticated(Authenticated):
    """An `Authenticated` proven by a bearer JWT; `user` is a stub from the claims, not the record."""

    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    family_id: str | None = None  # the `sid` claim: the refresh-token family of a first-party token


def _principal(claims: Mapping[str, Any]) -> BearerAuthenticated:
    sub = str(claims["sub"])
    scope = claims.get("scope")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    client_id = claims.get("client_id")
    username = claims.get("preferred_username")
    auth_time = claims.get("auth_time")
    # A client acting for itself has the subject `client:<client_id>` (oauth2/minting.py), kept
    # apart from user ids; its principal is named by the bare client id.
    is_client = isinstance(client_id, str) and sub in (client_id, f"client:{client_id}")
    principal = Principal(
        subject=client_id if is_client and isinstance(client_id, str) else sub,
        kind="client" if is_client else "user",
        method="bearer",
        username=username if isinstance(username, str) else None,
        permissions=scopes,
        scopes=scopes,
        auth_time=float(auth_time) if isinstance(auth_time, int | float) else None,
        client_id=client_id if isinstance(client_id, str) else None,
    )
    stub = UserRecord(
        id=sub,
        username=principal.username or sub,
        email=None,
        password_hash=None,
        disabled=False,
        mfa_enabled=False,
        created_at=0.0,
        updated_at=0.0,
    )
    sid = claims.get("sid")
    return BearerAuthenticated(stub, principal, None, dict(claims), sid if isinstance(sid, str) else None)


class BearerAuthenticator:
    def __init__(
        self,
        verifier: JwtVerifier,
        keys: Callable[[], Mapping[str, VerificationKey]],
        clock: Clock,
        *,
        cache_size: int = 10_000,
        leeway: int = 60,
    ) -> None:
        self._verifier = verifier
        self._cache: VerifiedTokenCache[BearerAuthenticated] = VerifiedTokenCache(
            keys, clock, size=cache_size, leeway=leeway
        )

    @property
    def cache_size(self) -> int:
        return self._cache.size

    @cache_size.setter
    def cache_size(self, size: int) -> None:
        self._cache.size = size

    def authenticate(self, token: str) -> BearerAuthenticated:
        """The caller a token proves, or `InvalidToken`. Synchronous on purpose: no I/O here."""
        key = self._cache.key(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        claims, kid = self._verifier.verify_with_kid(token)
        auth = _principal(claims)
        self._cache.put(key, auth, float(claims["exp"]), kid)
        return auth

    def clear(self) -> None:
        self._cache.clear()


__all__ = ["BearerAuthenticated", "BearerAuthenticator", "InvalidToken"]
