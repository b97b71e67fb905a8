"""RFC 9068 §2: JWT profile for OAuth 2.0 access tokens — issuing them.

Header `{"typ": "at+jwt", "alg", "kid"}` (§2.1), claims iss, sub, aud, exp, iat, jti, client_id and
scope (§2.2), and `iat_ms`: the issue instant in whole milliseconds. `iat` is a whole second (what
every resource-server library expects), too coarse to tell a token minted just before a not-before
revocation from one minted just after it in the same second (compose/not_before.py).
Signed by PyJWS (the claims serialised by orjson) with the key ring's active key for the configured
algorithm, in batches with the other tokens asked for in the same event-loop step
(tokens/signing_batch.py): hence `issue` is async. Keys are parsed objects held by the ring; nothing
is parsed per token. Verification is `JwtVerifier`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ostiary.core.clock import Clock
from ostiary.tokens.keys import KeyRing
from ostiary.tokens.signing_batch import SigningBatch

ACCESS_TOKEN_TYP = "at+jwt"
ISSUED_MS_CLAIM = "iat_ms"  # the issue instant in milliseconds since the epoch (floor)
# Claims the issuer owns; `extra_claims` may add others (auth_time, amr, sid, acr, …) only.
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", ISSUED_MS_CLAIM}
)


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_at: int
    expires_in: int


class AccessTokenIssuer:
    def __init__(
        self,
        issuer: str,
        keyring: Callable[[], KeyRing],
        clock: Clock,
        lifetime: int = 600,
        *,
        alg: str = "ES256",
    ) -> None:
        if not issuer:
            raise ValueError("an issuer is required")
        if lifetime <= 0:
            raise ValueError("the access-token lifetime must be positive")
        self._issuer = issuer
        self._keyring = keyring
        self._clock = clock
        self._lifetime = lifetime
        self._alg = alg
        self._signing = SigningBatch()  # one per issuer: the server has one, shared by every grant

    @property
    def lifetime(self) -> int:
        return self._lifetime

    async def issue(
        self,
        subject: str,
        audience: str | Sequence[str],
        client_id: str,
        scope: str,
        extra_claims: Mapping[str, Any] | None = None,
        jti: str | None = None,
        lifetime: int | None = None,
    ) -> IssuedAccessToken:
        """`lifetime` overrides the issuer's default for this token (per-client lifetimes)."""
        if not subject or not client_id:
            raise ValueError("subject and client_id are required")
        lifetime = self._lifetime if lifetime is None else lifetime
        if lifetime <= 0:
            raise ValueError("the access-token lifetime must be positive")
        aud: str | list[str] = audience if isinstance(audience, str) else list(audience)
        if not aud or (isinstance(aud, list) and not all(isinstance(a, str) and a for a in aud)):
            raise ValueError("at least one non-empty audience is required")
        extra = dict(extra_claims or {})
        clash = RESERVED_CLAIMS.intersection(extra)
        if clash:
            raise ValueError(f"extra_claims may not set {sorted(clash)}")
        key = self._keyring().signing_key_for(self._alg)
        now = self._clock.now()
        iat = math.floor(now)
        exp = iat + lifetime
        token_id = jti or secrets.token_urlsafe(24)  # 192 bits
        claims: dict[str, Any] = {
            **extra,
            "iss": self._issuer,
            "sub": subject,
            "aud": aud,
            "exp": exp,
            "iat": iat,
            ISSUED_MS_CLAIM: max(iat * 1000, math.floor(now * 1000)),  # never before `iat`
            "jti": token_id,
            "client_id": client_id,
        }
        if scope:  # RFC 9068 §2.2.3: present when scopes were granted
            claims["scope"] = scope
        # Serialised by orjson (`jwt.encode` would use `json.dumps`: ~4 µs against ~0.4 µs; the claims
        # above are plain JSON values), signed by PyJWS in the step's batch.
        token = await self._signing.encode(
            orjson.dumps(claims), key.private_key, key.alg, {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
        )
        return IssuedAccessToken(token=token, jti=token_id, expires_at=exp, expires_in=lifetime)
