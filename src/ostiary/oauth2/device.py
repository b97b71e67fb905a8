"""RFC 8628 §3.1–3.3: the device authorization endpoint and the user-code verification step.

A device (a CLI, a TV) asks for a pair of codes: the *device code*, 256 random bits it polls the
token endpoint with, and the *user code*, which a person types on a signed-in browser. The user code
is 8 characters from 20 consonants (§6.1: no vowels, so no words; no digits, so no 0/O or 1/I
confusion), about 34.6 bits, shown as `XXXX-XXXX`. Both are stored as SHA-256 digests of their
canonical forms only (SEC-37). Guessing a user code is made useless by its 10-minute life and by
the web layer's per-IP limit on wrong codes at the verification page (§5.1, SEC-37), which counts
`UnknownUserCode` answers.

Approval re-checks the signed-in user (SEC-37, authentik CVE-2024-38371): a user who may grant
none of the requested scopes cannot approve, and the approved scope is narrowed to what they may
grant. `DeviceCodeStore.decide` lets exactly one of two concurrent decisions win.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from ostiary.core.clock import Clock
from ostiary.core.errors import Conflict, Forbidden, OstiaryError, StoreUnavailable
from ostiary.core.secrets import random_token, sha256_hex
from ostiary.oauth2.clients import ClientAuthenticator
from ostiary.oauth2.codes import new_grant_id
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.errors import (
    InvalidScope,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from ostiary.oauth2.requests import OAuthRequest, single, token_request_params
from ostiary.oauth2.scopes import intersect, parse_scope
from ostiary.oauth2.users import GrantUsers
from ostiary.storage.interfaces.oauth_clients import Client
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization, DeviceCodeStore

DEVICE_CODE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
DEVICE_CODE_BYTES = 32  # 256 bits
MAX_DEVICE_CODE_LENGTH = 128  # far above the 43 characters we issue; bounds what is hashed
_SAVE_ATTEMPTS = 3  # a user-code collision among live codes is rare; a fresh pair resolves it


def new_user_code() -> str:
    """A fresh user code in canonical form (8 letters); show it with `format_user_code`."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def format_user_code(canonical: str) -> str:
    """The display form, `XXXX-XXXX`: two halves are easier to read out and type."""
    half = len(canonical) // 2
    return f"{canonical[:half]}-{canonical[half:]}"


def canonical_user_code(typed: str) -> str | None:
    """What a person typed, case and separators ignored; None if it cannot be one of our codes."""
    canonical = "".join(ch for ch in typed.upper() if ch not in " -\t")
    if len(canonical) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in canonical):
        return None
    return canonical


def user_code_digest(canonical: str) -> str:
    return sha256_hex(canonical)


def device_code_digest(device_code: str) -> str:
    return sha256_hex(device_code)


class DeviceAuthorizationEndpoint:
    """§3.1–3.2: POST /device_authorization. Client authentication works as at the token endpoint."""

    def __init__(
        self,
        clients: ClientAuthenticator,
        store: DeviceCodeStore,
        clock: Clock,
        *,
        verification_uri: str,
        lifetime: int = 600,
        interval: int = 5,
    ) -> None:
        parts = urlsplit(verification_uri)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
            raise ValueError("verification_uri must be an absolute http(s) URI without a fragment")
        if not 60 <= lifetime <= 1800:
            raise ValueError("the device-code lifetime must be 60..1800 seconds (the user code is short)")
        if not 1 <= interval <= 60:
            raise ValueError("the polling interval must be 1..60 seconds")
        self._clients = clients
        self._store = store
        self._clock = clock
        self._verification_uri = verification_uri
        self._lifetime = lifetime
        self._interval = interval

    async def handle(self, request: OAuthRequest) -> TokenResponse:
        try:
            params = token_request_params(request)  # POST, form-encoded, nothing repeated (SEC-69)
            client = await self._clients.authenticate(request, params)
            if DEVICE_CODE_GRANT_TYPE not in client.grant_types:
                raise UnauthorizedClient("This client may not use the device authorization grant.")
            scope = self._scope(client, parse_scope(single(params, "scope")))
            body = await self._issue(client, scope)
        except OAuthError as exc:
            return TokenResponse(exc.status, exc.to_json(), exc.headers)
        except StoreUnavailable:
            error = TemporarilyUnavailable()
            return TokenResponse(error.status, error.to_json(), {**error.headers, "Retry-After": "5"})
        return TokenResponse(200, body)  # no-store by default (§3.2, SEC-40)

    @staticmethod
    def _scope(client: Client, requested: tuple[str, ...]) -> tuple[str, ...]:
        scope = intersect(requested or client.scopes, client.scopes)  # absent: the client's default
        if not scope:
            raise InvalidScope("None of the requested scopes is allowed for this client.")
        return scope

    async def _issue(self, client: Client, scope: tuple[str, ...]) -> dict[str, Any]:
        now = self._clock.now()
        for _ in range(_SAVE_ATTEMPTS):
            device_code, user_code = random_token(DEVICE_CODE_BYTES), new_user_code()
            record = DeviceAuthorization(
                device_code_digest=device_code_digest(device_code),
                user_code_digest=user_code_digest(user_code),
                client_id=client.client_id,
                scope=scope,
                grant_id=new_grant_id(),
                issued_at=now,
                expires_at=now + self._lifetime,
                interval=self._interval,
            )
            try:
                await self._store.save(record)
            except Conflict:
                continue
            shown = format_user_code(user_code)
            separator = "&" if "?" in self._verification_uri else "?"
            return {
                "device_code": device_code,
                "user_code": shown,
                "verification_uri": self._verification_uri,
                "verification_uri_complete": f"{self._verification_uri}{separator}user_code={quote(shown)}",
                "expires_in": self._lifetime,
                "interval": self._interval,
            }
        raise ServerError("Could not allocate a unique user code.")


class UserCodeError(OstiaryError):
    """A user code the verification page cannot act on; the message is safe to show the user."""

    status = 400
    code = "invalid_user_code"


class UnknownUserCode(UserCodeError):
    code = "unknown_user_code"

    def default_message(self) -> str:
        return "This code is not valid. Check it and try again."


class ExpiredUserCode(UserCodeError):
    code = "expired_user_code"

    def default_message(self) -> str:
        return "This code has expired. Start again on your device to get a new one."


class UsedUserCode(UserCodeError):
    code = "used_user_code"

    def default_message(self) -> str:
        return "This code has already been used."


class ApprovalNotAllowed(Forbidden):
    code = "approval_not_allowed"

    def default_message(self) -> str:
        return "Your account may not give this application access."


class DeviceVerification:
    """§3.3: what the verification page does for the signed-in user who entered a user code."""

    def __init__(self, store: DeviceCodeStore, clock: Clock, users: GrantUsers) -> None:
        self._store = store
        self._clock = clock
        self._users = users

    async def lookup(self, user_code: str) -> DeviceAuthorization:
        """The pending request behind `user_code`, or `UnknownUserCode` / `ExpiredUserCode` /
        `UsedUserCode`. The page shows the client and `scope` and asks to approve or deny."""
        canonical = canonical_user_code(user_code)
        if canonical is None:
            raise UnknownUserCode()
        record = await self._store.get_by_user_code(user_code_digest(canonical))
        if record is None:
            raise UnknownUserCode()
        if record.status != "pending":
            raise UsedUserCode()
        if self._clock.now() >= record.expires_at:
            raise ExpiredUserCode()
        return record

    async def approve(
        self, user_code: str, user_id: str, auth_time: float, amr: tuple[str, ...] = ()
    ) -> DeviceAuthorization:
        """Grant the device what this user may grant of what it asked for; the decided record."""
        record = await self.lookup(user_code)
        grantable = await self._users.grantable_scopes(user_id, record.scope)
        scope = intersect(record.scope, grantable or ())
        if not scope:
            raise ApprovalNotAllowed()  # SEC-37: a user without access cannot approve
        return await self._decide(
            record, approve=True, user_id=user_id, auth_time=auth_time, amr=amr, scope=scope
        )

    async def deny(
        self, user_code: str, user_id: str, auth_time: float, amr: tuple[str, ...] = ()
    ) -> DeviceAuthorization:
        """Refuse the request: the device's next poll gets `access_denied` (§3.5)."""
        record = await self.lookup(user_code)
        if await self._users.grantable_scopes(user_id, record.scope) is None:
            raise ApprovalNotAllowed()  # an unknown or disabled account acts on nothing
        return await self._decide(
            record, approve=False, user_id=user_id, auth_time=auth_time, amr=amr, scope=()
        )

    async def _decide(
        self,
        record: DeviceAuthorization,
        *,
        approve: bool,
        user_id: str,
        auth_time: float,
        amr: tuple[str, ...],
        scope: tuple[str, ...],
    ) -> DeviceAuthorization:
        decided = await self._store.decide(
            record.user_code_digest,
            approve=approve,
            user_id=user_id,
            auth_time=auth_time,
            amr=amr,
            scope=scope,
            now=self._clock.now(),
        )
        if decided is None:
            # Another decision won the race, or the code expired meanwhile: say which.
            current = await self._store.get_by_user_code(record.user_code_digest)
            if current is not None and current.status == "pending":
                raise ExpiredUserCode()
            raise UsedUserCode()
        return decided
