"""What an API learns from a verified access token: RFC 9068 §2.2 claims or an RFC 7662 §2.2 answer.

Both carry the same names (`sub`, `client_id`, `scope`, `exp`, `iat`, `jti`, `aud`, `iss`), so one
small value type serves the JWT verifier and the introspection client alike. In ostiary, the scope
of a token *is* the set of permissions it grants (docs/tokens.md), so `permissions` equals `scopes`
unless the token carries an explicit `permissions` array.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _scopes(value: object) -> frozenset[str]:
    # RFC 6749 §3.3: space-delimited; anything but a string grants nothing.
    return frozenset(value.split()) if isinstance(value, str) else frozenset()


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


@dataclass(frozen=True)
class TokenInfo:
    """A token that passed verification. `claims` holds everything the token or answer said."""

    subject: str
    issuer: str | None = None
    client_id: str | None = None
    scopes: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    audience: tuple[str, ...] = ()
    expires_at: float | None = None
    issued_at: float | None = None
    token_id: str | None = None
    username: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> TokenInfo:
        subject = _text(claims.get("sub"))
        if subject is None:
            raise ValueError("a verified token needs a subject")
        scopes = _scopes(claims.get("scope"))
        explicit = claims.get("permissions")
        permissions = frozenset(_strings(explicit)) if isinstance(explicit, list) else scopes
        return cls(
            subject=subject,
            issuer=_text(claims.get("iss")),
            client_id=_text(claims.get("client_id")),
            scopes=scopes,
            permissions=permissions,
            audience=_strings(claims.get("aud")),
            expires_at=_number(claims.get("exp")),
            issued_at=_number(claims.get("iat")),
            token_id=_text(claims.get("jti")),
            # JWT access tokens say preferred_username (OIDC); introspection says username.
            username=_text(claims.get("preferred_username")) or _text(claims.get("username")),
            claims=MappingProxyType(dict(claims)),
        )

    def missing_scopes(self, required: Iterable[str]) -> list[str]:
        return sorted(set(required) - self.scopes)

    def missing_permissions(self, required: Iterable[str]) -> list[str]:
        return sorted(set(required) - self.permissions)


class TokenValidator(Protocol):
    """What `OstiaryAuth` needs: `JwtAccessTokenVerifier` or `IntrospectionClient`."""

    async def verify(self, token: str) -> TokenInfo:
        """The token's info, or raise `InvalidToken` (refused) / `VerificationUnavailable`."""
        ...
