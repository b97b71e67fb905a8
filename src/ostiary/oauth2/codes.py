"""RFC 6749 §4.1.2: authorization codes — 256-bit, single use, 60 s, stored by SHA-256 digest only.

A code is bound to everything the token request must match (client, redirect URI, PKCE challenge)
and to what the tokens will carry (user, scope, nonce, auth_time, amr) plus a grant id naming all
the tokens it will produce, so that a replay can revoke them (SEC-29). RFC 6749 §4.1.2 caps the
lifetime at 10 minutes and RFC 9700 suggests far less; 60 s is plenty for a back-channel exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.core.clock import Clock
from ostiary.core.secrets import random_token, sha256_hex
from ostiary.storage.interfaces.oauth_codes import AuthorizationCodeRecord, AuthorizationCodeStore

__all__ = [
    "CODE_TTL_SECONDS",
    "AuthorizationCodeIssuer",
    "AuthorizationCodeRecord",
    "AuthorizationCodeStore",
    "IssuedCode",
    "code_digest",
    "new_grant_id",
]

CODE_TTL_SECONDS = 60
MAX_CODE_TTL_SECONDS = 600  # RFC 6749 §4.1.2
CODE_BYTES = 32  # 256 bits
GRANT_ID_BYTES = 16


def code_digest(code: str) -> str:
    """The only form in which a code is stored: the code has full entropy, so SHA-256 suffices."""
    return sha256_hex(code)


def new_grant_id() -> str:
    return random_token(GRANT_ID_BYTES)


@dataclass(frozen=True)
class IssuedCode:
    code: str  # goes to the user agent once; never stored, never logged
    grant_id: str
    expires_at: float


class AuthorizationCodeIssuer:
    def __init__(self, store: AuthorizationCodeStore, clock: Clock, ttl: int = CODE_TTL_SECONDS) -> None:
        if not 0 < ttl <= MAX_CODE_TTL_SECONDS:
            raise ValueError("the authorization-code lifetime must be 1..600 seconds")
        self._store = store
        self._clock = clock
        self._ttl = ttl

    async def issue(
        self,
        *,
        client_id: str,
        user_id: str,
        redirect_uri: str,
        redirect_uri_provided: bool,
        scope: tuple[str, ...],
        code_challenge: str | None,
        code_challenge_method: str | None,
        auth_time: float,
        amr: tuple[str, ...] = (),
        acr: str | None = None,
        nonce: str | None = None,
        sid: str | None = None,
    ) -> IssuedCode:
        now = self._clock.now()
        code = random_token(CODE_BYTES)
        record = AuthorizationCodeRecord(
            client_id=client_id,
            user_id=user_id,
            grant_id=new_grant_id(),
            redirect_uri=redirect_uri,
            redirect_uri_provided=redirect_uri_provided,
            scope=scope,
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            issued_at=now,
            expires_at=now + self._ttl,
            auth_time=auth_time,
            amr=amr,
            acr=acr,
            nonce=nonce,
            sid=sid,
        )
        await self._store.save(code_digest(code), record)
        return IssuedCode(code=code, grant_id=record.grant_id, expires_at=record.expires_at)
