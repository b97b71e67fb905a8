"""The second step of a login (SEC-49): password → short-lived MFA challenge → code → full login.

After a correct password for a user with MFA, no session and no token exists yet: the caller holds
only an opaque challenge token (256 random bits, stored as its SHA-256 digest) that lives at most
five minutes, belongs to one user and one `purpose` ("session" for the browser login, "token" for
`/auth/token`), and is read by nothing but the matching second-step endpoint. It is deleted when the
second factor succeeds (one DELETE … RETURNING: exactly one of concurrent completions wins). Wrong
codes count against the user's MFA throttle (authn/mfa_throttle.py), which no new challenge resets.

A passkey is a third method ("webauthn", authn/passkeys.py) when compose attaches a `PasskeyFactor`:
its WebAuthn challenge is bound to this login's challenge digest, and its `amr` is `hwk`/`swk` (plus
`user` when the authenticator verified the user) instead of `otp`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ostiary.authn.audit import Auditor
from ostiary.authn.mfa_throttle import MfaLocked, MfaThrottle
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.authn.totp import TotpAuthenticator
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import NotAuthenticated, ValidationFailed
from ostiary.core.secrets import random_token, sha256_hex
from ostiary.storage.interfaces.mfa import MfaChallenge, MfaChallengeStore
from ostiary.storage.interfaces.users import UserRecord, UserStore

PURPOSES = frozenset({"session", "token"})
MAX_TOKEN_LENGTH = 128
AMR_OF_METHOD = {"totp": "otp", "recovery_code": "recovery"}  # RFC 8176 "otp"; "recovery" is ours
WRONG_FACTOR_MESSAGE = {"webauthn": "The passkey could not be verified. Try again."}


class PasskeyFactor(Protocol):
    """What the MFA step needs of passkeys (implemented by authn/passkeys.PasskeyAuthenticator)."""

    async def has_passkeys(self, user_id: str) -> bool: ...

    async def verify_second_factor(
        self, user_id: str, binding: str, credential: Mapping[str, Any] | None, meta: RequestMeta
    ) -> tuple[str, ...] | None:
        """The passkey's amr values, or None when the assertion does not verify."""
        ...


class MfaChallengeInvalid(NotAuthenticated):
    code = "mfa_challenge_invalid"

    def default_message(self) -> str:
        return "This sign-in has expired or is not valid. Log in again."


class InvalidSecondFactor(NotAuthenticated):
    code = "invalid_code"

    def default_message(self) -> str:
        return "The code is not correct."


@dataclass(frozen=True)
class MfaStarted:
    token: str  # the challenge; never a credential
    expires_in: int
    methods: tuple[str, ...]

    def body(self) -> dict[str, object]:
        return {
            "mfa_required": True,
            "mfa_token": self.token,
            "expires_in": self.expires_in,
            "methods": list(self.methods),
        }


@dataclass(frozen=True)
class MfaCompleted:
    user: UserRecord
    method: str  # "totp" | "recovery_code"
    amr: tuple[str, ...]  # e.g. ("pwd", "otp")
    first_factor_time: float  # when the password was proven


class MfaLogin:
    def __init__(
        self,
        challenges: MfaChallengeStore,
        totp: TotpAuthenticator,
        recovery: RecoveryCodes,
        throttle: MfaThrottle,
        users: UserStore,
        auditor: Auditor,
        clock: Clock,
        *,
        challenge_seconds: int = 300,
        passkeys: PasskeyFactor | None = None,
    ) -> None:
        self._challenges = challenges
        self._totp = totp
        self._recovery = recovery
        self._throttle = throttle
        self._users = users
        self._audit = auditor
        self._clock = clock
        self.challenge_seconds = min(challenge_seconds, 300)
        self.passkeys = passkeys  # attached by compose/passkeys.py when passkeys are available

    async def begin(
        self, user: UserRecord, meta: RequestMeta, *, purpose: str, amr: tuple[str, ...] = ("pwd",)
    ) -> MfaStarted:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown MFA purpose {purpose!r}")
        now = self._clock.now()
        token = random_token(32)
        expires_at = now + self.challenge_seconds
        await self._challenges.create(
            MfaChallenge(sha256_hex(token), user.id, purpose, amr, now, expires_at, created_at=now)
        )
        await self._challenges.purge_expired(now=now)
        await self._audit.record("login.mfa_required", meta, subject=user.id, purpose=purpose)
        credential = await self._totp.credential(user.id)
        methods = ["totp"] if credential and credential.active else []
        if self.passkeys is not None and await self.passkeys.has_passkeys(user.id):
            methods.append("webauthn")
        return MfaStarted(token, self.challenge_seconds, (*methods, "recovery_code"))

    async def challenge(self, token: str | None, *, purpose: str) -> MfaChallenge:
        """The live challenge of `purpose` for this token; MfaChallengeInvalid otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise MfaChallengeInvalid()
        found = await self._challenges.get(sha256_hex(token), now=self._clock.now())
        if found is None or found.purpose != purpose:
            raise MfaChallengeInvalid()
        return found

    async def complete(
        self,
        token: str | None,
        meta: RequestMeta,
        *,
        purpose: str,
        code: str | None = None,
        recovery_code: str | None = None,
        passkey: Mapping[str, Any] | None = None,
    ) -> MfaCompleted:
        given = [v for v in (code, recovery_code, passkey) if v is not None]
        if len(given) != 1:
            hint = "Send either 'code' or 'recovery_code'." if passkey is None else "Send the passkey alone."
            raise ValidationFailed(hint, field="code")
        challenge = await self.challenge(token, purpose=purpose)
        user = await self._users.get(challenge.user_id)
        if user is None or user.disabled or not user.mfa_enabled:
            await self._challenges.consume(challenge.digest, now=self._clock.now())
            raise MfaChallengeInvalid()
        method = "totp" if code is not None else "recovery_code" if recovery_code is not None else "webauthn"
        try:
            await self._throttle.reserve(user.id)
        except MfaLocked:
            await self._audit.record(
                "login.mfa_throttled", meta, outcome="failure", subject=user.id, factor=method
            )
            raise
        factor_amr: tuple[str, ...] | None = None
        if method == "totp":
            ok = await self._totp.verify(user.id, code)
        elif method == "recovery_code":
            ok = await self._recovery.consume(user.id, recovery_code)
        else:
            if self.passkeys is not None:
                factor_amr = await self.passkeys.verify_second_factor(
                    user.id, challenge.digest, passkey, meta
                )
            ok = factor_amr is not None
        if not ok:
            await self._fail(user.id, method, meta)
        if await self._challenges.consume(challenge.digest, now=self._clock.now()) is None:
            raise MfaChallengeInvalid()  # a concurrent completion took it, or it expired meanwhile
        await self._throttle.succeeded(user.id)
        amr = (*challenge.amr, *(factor_amr or (AMR_OF_METHOD[method],)))
        left = await self._recovery.remaining(user.id) if method == "recovery_code" else None
        await self._audit.record(
            "login.success",
            meta,
            actor=user.id,
            subject=user.id,
            factor=method,
            amr=list(amr),
            recovery_codes_left=left,
        )
        return MfaCompleted(user, method, amr, challenge.auth_time)

    async def _fail(self, user_id: str, method: str, meta: RequestMeta) -> None:
        state = await self._throttle.state(user_id)
        failures = state.failures if state else 0
        await self._audit.record(
            "login.failure",
            meta,
            outcome="failure",
            subject=user_id,
            reason="wrong_code",
            factor=method,
            failures=failures,
        )
        if failures == self._throttle.config.max_failures:
            await self._audit.record("login.mfa_lockout", meta, outcome="failure", subject=user_id)
        raise InvalidSecondFactor(WRONG_FACTOR_MESSAGE.get(method))
