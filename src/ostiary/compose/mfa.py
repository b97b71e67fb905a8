"""Wiring of second factors (docs/mfa.md): TOTP, recovery codes, the MFA throttle and login step."""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.authn.audit import Auditor
from ostiary.authn.mfa import MfaManager, MfaNotices
from ostiary.authn.mfa_login import MfaLogin
from ostiary.authn.mfa_throttle import MfaThrottle, MfaThrottleConfig
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.authn.totp import TotpAuthenticator, TotpConfig
from ostiary.core.clock import Clock
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.users import UserStore
from ostiary.storage.sqlalchemy.attempts import SqlAttemptStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore


@dataclass
class MfaWiring:
    totp: TotpAuthenticator
    recovery: RecoveryCodes
    throttle: MfaThrottle
    login: MfaLogin  # the second step of /auth/login and /auth/token
    manage: MfaManager  # a user's own enroll / disable / regenerate (recent authentication)


def build_mfa(
    settings: Settings,
    db: Database,
    clock: Clock,
    secret: InstanceSecret,
    users: UserStore,
    auditor: Auditor,
    mail: MfaNotices | None = None,
) -> MfaWiring:
    totp = TotpAuthenticator(
        SqlTotpStore(db),
        secret,
        clock,
        TotpConfig(settings.totp_issuer_name, settings.totp_enrollment_seconds),
    )
    recovery = RecoveryCodes(SqlRecoveryCodeStore(db), secret, clock)
    throttle = MfaThrottle(
        SqlAttemptStore(db),
        clock,
        MfaThrottleConfig(
            settings.mfa_max_failures, settings.mfa_lock_seconds, settings.mfa_max_lock_seconds
        ),
    )
    login = MfaLogin(
        SqlMfaChallengeStore(db),
        totp,
        recovery,
        throttle,
        users,
        auditor,
        clock,
        challenge_seconds=settings.mfa_challenge_seconds,
    )
    manage = MfaManager(
        totp, recovery, auditor, clock, reauth_window_seconds=settings.reauth_window_seconds, mail=mail
    )
    return MfaWiring(totp, recovery, throttle, login, manage)
