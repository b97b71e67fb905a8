"""RFC 8628 §3.4–3.5: the device code grant — the device polls until the user has decided.

Each poll is recorded first (`DeviceCodeStore.poll`), then answered in this order: unknown or
already redeemed → `invalid_grant`; another client's code → `invalid_grant`; past its lifetime →
`expired_token`; denied → `access_denied`; still pending → `slow_down` if it came sooner than
`interval` seconds after the previous poll, else `authorization_pending`; approved → consumed
atomically and exchanged for tokens, exactly once (SEC-37): a second redemption, concurrent or
later, finds nothing and gets `invalid_grant`.

`slow_down` and the interval: §3.5 obliges the *client* to add 5 seconds to its interval for this
and every later poll. The server enforces the registered interval between consecutive polls; since
every poll moves the mark, a client that keeps polling too fast keeps getting `slow_down`, and one
that obeys the rule never sees it again. The grown interval itself is not remembered server-side:
`DeviceCodeStore` has no write for it, and remembering it would only let the server refuse a poll
between `interval` and `interval + 5` seconds — a politeness rule, not a security boundary.

The user is re-checked when the tokens are minted (SEC-12, SEC-37): approval may be minutes old.
An approval made before the user's not-before (a password change or reset, a disable, a lockout, an
administrator's sign-out) mints nothing, as an authorization code issued before it would not.
"""

from __future__ import annotations

from ostiary.core.clock import Clock
from ostiary.oauth2.device import DEVICE_CODE_GRANT_TYPE, MAX_DEVICE_CODE_LENGTH, device_code_digest
from ostiary.oauth2.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    ServerError,
    SlowDown,
)
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import GrantContext, TokenMinter, TokenSet
from ostiary.oauth2.requests import required
from ostiary.oauth2.scopes import intersect
from ostiary.oauth2.users import GrantUsers
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization, DeviceCodeStore

UNKNOWN_CODE = "The device code is invalid or has already been used."


class DeviceCodeGrant:
    grant_type = DEVICE_CODE_GRANT_TYPE

    def __init__(self, store: DeviceCodeStore, minter: TokenMinter, users: GrantUsers, clock: Clock) -> None:
        self._store = store
        self._minter = minter
        self._users = users
        self._clock = clock

    async def handle(self, request: TokenRequest) -> TokenSet:
        device_code = required(request.params, "device_code")
        if len(device_code) > MAX_DEVICE_CODE_LENGTH:
            raise InvalidGrant(UNKNOWN_CODE)
        digest = device_code_digest(device_code)
        now = self._clock.now()
        polled = await self._store.poll(digest, now=now)
        if polled is None:
            raise InvalidGrant(UNKNOWN_CODE)
        record, previous_poll = polled
        if record.client_id != request.client.client_id:
            raise InvalidGrant("The device code was issued to another client.")
        if now >= record.expires_at:
            raise ExpiredToken()
        if record.status == "denied":
            raise AccessDenied("The user denied the request.")
        if record.status == "pending":
            if previous_poll is not None and now - previous_poll < record.interval:
                raise SlowDown()
            raise AuthorizationPending()
        approved = await self._store.consume(digest)
        if approved is None:  # a concurrent redemption won (§3.5: single use)
            raise InvalidGrant(UNKNOWN_CODE)
        return await self._mint(request.client, approved)

    async def _mint(self, client: Client, approved: DeviceAuthorization) -> TokenSet:
        user_id = approved.user_id
        if user_id is None or approved.auth_time is None:
            raise ServerError()  # an approved record without its user: a store bug, fail closed
        grantable = await self._users.grantable_scopes(user_id, approved.scope)
        if grantable is None:
            raise InvalidGrant("The user who approved this request can no longer be granted tokens.")
        # The client's allowed scopes are re-applied too: an administrator may have narrowed them
        # between the device authorization request and this redemption.
        scope = intersect(intersect(approved.scope, grantable), client.scopes)
        if not scope:
            raise InvalidGrant("None of the approved scopes can be granted any more.")
        return await self._minter.mint(
            GrantContext(
                client=client,
                grant_type=self.grant_type,
                grant_id=approved.grant_id,
                subject=user_id,
                scope=scope,
                user_id=user_id,
                auth_time=approved.auth_time,
                amr=approved.amr,
                refresh_token_allowed="refresh_token" in client.grant_types,
                # An approval given before the user's not-before (a password change, an
                # administrator's sign-out, a lockout) mints nothing. A record decided before
                # `decided_at` existed falls back to the sign-in time, which is never later.
                authorized_at=approved.decided_at if approved.decided_at is not None else approved.auth_time,
            )
        )
