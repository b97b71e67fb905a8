"""RFC 6749 §4.3: the resource owner password credentials grant, for legacy clients only (SEC-32).

RFC 9700 §2.4 says this grant MUST NOT be used; it exists here for clients that cannot yet do
better, is off unless a client's `grant_types` names `password` (the token endpoint enforces that),
and gets no shortcut: the credentials go through authn's `PasswordLogin`, so the per-account
lockout, the equal-cost path for unknown users and the login audit records all apply as they do
for the sign-in form.

A user with MFA enrolled is refused (SEC-32): this grant has no second factor, and accepting the
password alone would make the MFA enrolment worthless. The refusal comes only after the password
was verified — like the sign-in form, which asks for the second factor only then — so the answer
tells nothing about the account to someone without its password.
"""

from __future__ import annotations

from ostiary.authn.audit import Auditor
from ostiary.authn.login import PasswordLogin
from ostiary.core.clock import Clock
from ostiary.core.errors import InvalidCredentials, Overloaded, RateLimited, ValidationFailed
from ostiary.oauth2.codes import new_grant_id
from ostiary.oauth2.errors import InvalidGrant, InvalidScope, TemporarilyUnavailable
from ostiary.oauth2.grants.base import TokenRequest
from ostiary.oauth2.minting import GrantContext, TokenMinter, TokenSet
from ostiary.oauth2.requests import required, single
from ostiary.oauth2.scopes import intersect, parse_scope
from ostiary.oauth2.users import GrantUsers, request_meta
from ostiary.storage.interfaces.users import UserRecord

INVALID_CREDENTIALS = "Invalid username or password."
MFA_REFUSED = (
    "This account uses multi-factor authentication, which the password grant cannot perform. "
    "Sign in through the browser (authorization code or device flow) instead."
)


class LoginThrottled(InvalidGrant):
    """The account is in its lockout delay (SEC-60); `Retry-After` says when to try again.

    The lockout is keyed by the submitted login whether or not the account exists, so this answer
    reveals nothing about existence.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed sign-in attempts. Try again later.")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "Retry-After": str(self.retry_after)}


class HashingBusy(TemporarilyUnavailable):
    """The password-hashing pool is full: answer at once rather than queue (authn.hashing_pool)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "Retry-After": str(self.retry_after)}


class PasswordGrant:
    grant_type = "password"

    def __init__(
        self, login: PasswordLogin, minter: TokenMinter, users: GrantUsers, clock: Clock, auditor: Auditor
    ) -> None:
        self._login = login
        self._minter = minter
        self._users = users
        self._clock = clock
        self._audit = auditor

    async def handle(self, request: TokenRequest) -> TokenSet:
        client = request.client
        username = required(request.params, "username")
        password = required(request.params, "password")
        # Scope first: a request that can be granted nothing must not cost a password verification.
        requested = parse_scope(single(request.params, "scope")) or client.scopes  # §3.3 default
        scope = intersect(requested, client.scopes)
        if not scope:
            raise InvalidScope("None of the requested scopes is allowed for this client.")
        user = await self._authenticate(request, username, password)
        grantable = await self._users.grantable_scopes(user.id, scope)
        if grantable is None:
            raise InvalidGrant(INVALID_CREDENTIALS)
        scope = intersect(scope, grantable)
        if not scope:
            raise InvalidScope("None of the requested scopes can be granted to this user.")
        return await self._minter.mint(
            GrantContext(
                client=client,
                grant_type=self.grant_type,
                grant_id=new_grant_id(),
                new_grant=True,
                subject=user.id,
                scope=scope,
                user_id=user.id,
                auth_time=self._clock.now(),
                amr=("pwd",),
                refresh_token_allowed="refresh_token" in client.grant_types,
            )
        )

    async def _authenticate(self, request: TokenRequest, username: str, password: str) -> UserRecord:
        meta = request_meta(request.request)
        try:
            user = await self._login.authenticate(username, password, meta)
        except (InvalidCredentials, ValidationFailed):  # ValidationFailed: a password over the cap
            raise InvalidGrant(INVALID_CREDENTIALS) from None
        except RateLimited as exc:
            raise LoginThrottled(exc.retry_after) from None
        except Overloaded as exc:
            raise HashingBusy(exc.retry_after) from None
        if user.mfa_enabled:
            await self._audit.record(
                "oauth.password_grant_refused",
                meta,
                outcome="failure",
                subject=user.id,
                client_id=request.client.client_id,
                reason="mfa_enrolled",
            )
            raise InvalidGrant(MFA_REFUSED)
        return user
