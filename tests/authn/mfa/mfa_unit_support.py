"""Builders of the second-factor unit tests: the real SQL stores on a throwaway SQLite file (the
contract suite in tests/storage/mfa runs them on PostgreSQL too), a frozen clock, a fixed secret."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import add_user_rows, migrated_db
from ostiary.authn.audit import Auditor
from ostiary.authn.mfa import MfaManager
from ostiary.authn.mfa_login import MfaLogin
from ostiary.authn.mfa_throttle import MfaThrottle, MfaThrottleConfig
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.authn.totp import DIGITS, TotpAuthenticator, TotpConfig, code_at, step_at
from ostiary.core.clock import FrozenClock
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.sqlalchemy.attempts import SqlAttemptStore
from ostiary.storage.sqlalchemy.audit import SqlAuditLog
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore
from ostiary.storage.sqlalchemy.users import SqlUserStore

SECRET = InstanceSecret(b"m" * 32)


@dataclass
class Mfa:
    db: Database
    clock: FrozenClock
    users: SqlUserStore
    totp_store: SqlTotpStore
    totp: TotpAuthenticator
    recovery: RecoveryCodes
    throttle: MfaThrottle
    login: MfaLogin
    manage: MfaManager


async def make_mfa(path: Path) -> Mfa:
    db = await migrated_db(f"sqlite+aiosqlite:///{path / 'mfa.db'}")
    await add_user_rows(db, "u1", "u2")
    clock = FrozenClock()
    users = SqlUserStore(db)
    auditor = Auditor(SqlAuditLog(db), clock)
    store = SqlTotpStore(db)
    totp = TotpAuthenticator(store, SECRET, clock, TotpConfig("ostiary-test", 600))
    recovery = RecoveryCodes(SqlRecoveryCodeStore(db), SECRET, clock)
    throttle = MfaThrottle(SqlAttemptStore(db), clock, MfaThrottleConfig(5, 300, 86400))
    login = MfaLogin(SqlMfaChallengeStore(db), totp, recovery, throttle, users, auditor, clock)
    manage = MfaManager(totp, recovery, auditor, clock, reauth_window_seconds=600)
    return Mfa(db, clock, users, store, totp, recovery, throttle, login, manage)


def wrong_code(seed: bytes, now: float) -> str:
    """Six digits that no step within the drift window accepts (a fixed "000000" would, once in
    a million runs)."""
    taken = {code_at(seed, step_at(now) + d) for d in (-1, 0, 1)}
    return next(c for c in (f"{n:0{DIGITS}d}" for n in range(10)) if c not in taken)
