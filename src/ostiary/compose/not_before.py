"""Not-before revocation (as Keycloak's "revocation policy"): every token of a user or of a client
issued before an instant is refused.

Bulk revocations end refresh-token families by the hundred and report a count, so the OAuth side
never hears of the grants they belonged to; and a JWT access token cannot be recalled at all. A
timestamp on the user (`UserRecord.tokens_not_before`) and on the client
(`Client.tokens_not_before`) closes both gaps: introspection and UserInfo (`TokenInspector`) refuse
an access token issued before either, whatever its grant, and an authorization code issued before
the user's mints nothing (`OAuthTokenMinter`, through `GrantContext.authorized_at`). The user's is
set by `UserTokenRevoker` (password change or reset, disable, lockout, realm import of a disabled
user, an administrator's sign-out); the client's by `ClientRegistry` when the client is disabled or
its secret rotated. Resource servers that verify JWTs locally still accept them until they expire
(≤ the access-token lifetime, docs/oauth.md).

The boundary. A token is refused when its issue instant, in whole milliseconds, is *before* the
not-before in whole milliseconds; one issued in the same millisecond or later is kept. `iat` alone
cannot decide this: it is a whole second, and a token minted at 12.3 s (before a revocation at
12.7 s) has the same `iat` 12 as one minted at 12.9 s (after it). Opaque access tokens and refresh
families store their issue instant exactly; JWT access tokens carry `iat_ms` (tokens/access_tokens.py).
A JWT without it (issued by an older release) counts as issued at the start of its `iat` second, so
in the revocation's own second it is refused: unknown means deny.

Order. The not-before is written *before* the families are revoked: a family (or token) minted
concurrently is either older than the not-before and refused, or newer and — if it is a family that
existed when the bulk revocation ran — revoked anyway. Refresh redemption needs no check of its own:
every family created before the not-before was live when `revoke_user` ran after it, so it is dead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ostiary.core.clock import Clock
from ostiary.storage.interfaces.users import UserRecord, UserStore
from ostiary.tokens.access_tokens import ISSUED_MS_CLAIM
from ostiary.tokens.refresh import RefreshTokens


def millis(instant: float) -> int:
    return math.floor(instant * 1000)


def issued_before(issued_ms: int, not_before: float | None) -> bool:
    """Whether a token issued at `issued_ms` falls to a not-before (the module docstring)."""
    return not_before is not None and issued_ms < millis(not_before)


def user_accepts(user: UserRecord, issued_ms: int) -> bool:
    """Whether a user still stands behind a token or authorization issued at `issued_ms`: enabled,
    and nothing revoked since (SEC-12, the module docstring)."""
    return not user.disabled and not issued_before(issued_ms, user.tokens_not_before)


def jwt_issued_ms(claims: Mapping[str, Any]) -> int:
    """A verified JWT's issue instant in milliseconds: `iat_ms` when it agrees with `iat`, else the
    first millisecond of the `iat` second (the earliest it can have been issued: fail closed)."""
    start: int = math.floor(claims["iat"]) * 1000
    exact = claims.get(ISSUED_MS_CLAIM)
    if isinstance(exact, int) and not isinstance(exact, bool) and start <= exact < start + 1000:
        return int(exact)
    return start


class UserTokenRevoker:
    """Implements `authn.accounts.CredentialRevoker`: a user's tokens end in bulk.

    Sets the user's not-before to now (their access tokens, JWT and opaque, of every client and
    grant, introspect inactive from here), then revokes their refresh-token families.
    `updated_at` is not touched: it is the profile's, shown to relying parties (OIDC `updated_at`).
    """

    def __init__(self, users: UserStore, refresh: RefreshTokens, clock: Clock) -> None:
        self._users = users
        self._refresh = refresh
        self._clock = clock

    async def revoke_user(self, user_id: str, *, reason: str) -> int:
        await self._users.update(user_id, tokens_not_before=self._clock.now())  # first: the docstring
        return await self._refresh.revoke_user(user_id, reason=reason)
