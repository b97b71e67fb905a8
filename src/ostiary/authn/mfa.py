"""A user's own second factors: turn TOTP on and off, renew recovery codes (SEC-14, SEC-50).

Starting an enrollment, disabling and renewing need a recent authentication: the caller's
`auth_time` (the session's login, or the token's) within `reauth_window_seconds`, else
`ReauthRequired` (401 `reauth_required`); a caller without an `auth_time` (an API key, say) never
qualifies. Disabling and renewing also need a login that used a second factor. Turning TOTP on takes
a correct code from the new app, within the enrollment window that only a recent login could open;
the first ten recovery codes come in the same unit of work, so MFA is never on without them. Each
change is audited (`mfa.*`) and announced by mail to the account's address (SEC-50, SEC-14):
whoever changed it, the owner hears of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ostiary.authn.audit import Auditor
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.authn.totp import TotpAuthenticator, TotpEnrollment
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Conflict, Forbidden, ReauthRequired, ValidationFailed
from ostiary.core.principal import Principal
from ostiary.storage.interfaces.users import UserRecord


@dataclass(frozen=True)
class MfaStatus:
    enabled: bool
    totp_active: bool
    totp_pending: bool
    recovery_codes_left: int

    def body(self) -> dict[str, object]:
        return {
            "mfa_enabled": self.enabled,
            "totp": {"active": self.totp_active, "pending": self.totp_pending},
            "recovery_codes_left": self.recovery_codes_left,
        }


SECOND_FACTOR_AMR = frozenset({"otp", "recovery", "hwk", "swk"})


class MfaNotices(Protocol):
    """The "two-step verification changed" mail (authn/account_mail.AccountMail); returns at once."""

    def mfa_changed(self, user_id: str, meta: RequestMeta, *, change: str) -> None: ...


def is_multi_factor(amr: tuple[str, ...] | list[str] | frozenset[str]) -> bool:
    """Did this login verify a second factor? The one definition of "MFA" for a session or token.

    True when `amr` (RFC 8176 method references, as ostiary's logins write them) names at least two
    methods and one of them is a second-factor authenticator — `otp` (TOTP), `recovery` (a recovery
    code), `hwk` / `swk` (a passkey or security key) — or when it says `mfa` outright:

    - `["pwd", "otp"]`, `["pwd", "recovery"]`, `["pwd", "hwk", "user"]`, `["email", "otp"]`: yes;
    - `["hwk", "user"]` / `["swk", "user"]` (passwordless passkey whose device verified the user by
      PIN or biometrics: possession plus knowledge or inherence): yes;
    - `["pwd"]`, `["email"]` (a magic link is one factor), `["hwk"]` (presence only): no.
    """
    methods = set(amr)
    if "mfa" in methods:
        return True
    return len(methods) >= 2 and bool(methods & SECOND_FACTOR_AMR)


def require_recent_auth(principal: Principal, now: float, window_seconds: int) -> None:
    """SEC-14: only a user who proved who they are within the window may change credentials."""
    if principal.kind != "user" or principal.method == "api_key":
        raise Forbidden("Only the account holder can change sign-in settings.")
    if principal.auth_time is None or not 0 <= now - principal.auth_time <= window_seconds:
        raise ReauthRequired()


def require_second_factor(principal: Principal) -> None:
    """Removing or renewing a second factor takes a login that used one: a password-only login
    (say, one made just before MFA was turned on) cannot undo MFA."""
    if not SECOND_FACTOR_AMR & set(principal.amr):
        raise ReauthRequired("Log in again with your second factor to do this.")


class MfaManager:
    def __init__(
        self,
        totp: TotpAuthenticator,
        recovery: RecoveryCodes,
        auditor: Auditor,
        clock: Clock,
        *,
        reauth_window_seconds: int = 600,
        mail: MfaNotices | None = None,
    ) -> None:
        self._mail = mail
        self._totp = totp
        self._recovery = recovery
        self._audit = auditor
        self._clock = clock
        self.reauth_window_seconds = reauth_window_seconds

    def _recent(self, principal: Principal) -> None:
        require_recent_auth(principal, self._clock.now(), self.reauth_window_seconds)

    async def _totp_active(self, user_id: str) -> bool:
        """From the store: `user` may be a cached record a moment behind (authn/principals.py)."""
        credential = await self._totp.credential(user_id)
        return credential is not None and credential.active

    async def status(self, user: UserRecord) -> MfaStatus:
        credential = await self._totp.credential(user.id)
        pending = (
            credential is not None
            and not credential.active
            and self._clock.now() <= credential.created_at + self._totp.config.enrollment_seconds
        )
        return MfaStatus(
            enabled=user.mfa_enabled,
            totp_active=bool(credential and credential.active),
            totp_pending=pending,
            recovery_codes_left=await self._recovery.remaining(user.id),
        )

    async def start_totp(self, user: UserRecord, principal: Principal, meta: RequestMeta) -> TotpEnrollment:
        self._recent(principal)
        enrollment = await self._totp.begin(user.id, user.username)
        await self._audit.record("mfa.totp_enroll_started", meta, actor=user.id, subject=user.id)
        return enrollment

    async def confirm_totp(self, user: UserRecord, code: str | None, meta: RequestMeta) -> list[str]:
        """Activate the pending seed with a correct code; returns the recovery codes (shown once)."""
        codes, digests = self._recovery.new_set(user.id)
        if not await self._totp.activate(user.id, code, digests):
            await self._audit.record(
                "mfa.totp_enroll_failed", meta, outcome="failure", actor=user.id, subject=user.id
            )
            raise ValidationFailed(
                "The code does not match, or the setup expired. Check the app's clock, or start again.",
                field="code",
                code="invalid_code",
            )
        await self._audit.record("mfa.totp_enabled", meta, actor=user.id, subject=user.id)
        self._notify(user.id, meta, "Two-step verification with an authenticator app was turned on")
        return codes

    async def disable_totp(self, user: UserRecord, principal: Principal, meta: RequestMeta) -> bool:
        """Remove TOTP and the recovery codes and clear `mfa_enabled`; False if there was nothing."""
        self._recent(principal)
        if user.mfa_enabled or await self._totp_active(user.id):
            require_second_factor(principal)
        removed = await self._totp.remove(user.id)
        if removed:
            await self._audit.record("mfa.totp_disabled", meta, actor=user.id, subject=user.id)
            self._notify(user.id, meta, "The authenticator app (TOTP) was removed")
        return removed

    async def regenerate_recovery_codes(
        self, user: UserRecord, principal: Principal, meta: RequestMeta
    ) -> list[str]:
        self._recent(principal)
        require_second_factor(principal)
        if not (user.mfa_enabled or await self._totp_active(user.id)):
            raise Conflict("Turn on two-step verification first.")
        codes = await self._recovery.regenerate(user.id)
        await self._audit.record("mfa.recovery_codes_regenerated", meta, actor=user.id, subject=user.id)
        self._notify(user.id, meta, "New recovery codes were made (the old ones stopped working)")
        return codes

    def _notify(self, user_id: str, meta: RequestMeta, change: str) -> None:
        if self._mail is not None:
            self._mail.mfa_changed(user_id, meta, change=change)
