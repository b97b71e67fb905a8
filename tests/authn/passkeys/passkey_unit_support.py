"""Builders of the passkey unit tests: the real SQL stores on a throwaway SQLite file (the contract
suite in tests/storage/passkeys runs them on PostgreSQL too), a frozen clock, a fixed secret, the MFA
step with passkeys attached, and principals as a session would carry them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soft_authenticator import SoftAuthenticator
from sqlalchemy import select

from helpers import migrated_db
from ostiary.authn.audit import Auditor
from ostiary.authn.mfa_login import MfaLogin
from ostiary.authn.mfa_throttle import MfaThrottle, MfaThrottleConfig
from ostiary.authn.passkeys import PasskeyAuthenticator
from ostiary.authn.passkeys_ceremony import PasskeyChallenges, PasskeyConfig
from ostiary.authn.passkeys_manage import PasskeyManager, Registered
from ostiary.authn.recovery_codes import RecoveryCodes
from ostiary.authn.totp import TotpAuthenticator, TotpConfig
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta
from ostiary.core.principal import Principal
from ostiary.core.secrets import InstanceSecret
from ostiary.storage.interfaces.users import NewUser, UserRecord
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.attempts import SqlAttemptStore
from ostiary.storage.sqlalchemy.audit import SqlAuditLog
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.mfa import SqlMfaChallengeStore, SqlRecoveryCodeStore, SqlTotpStore
from ostiary.storage.sqlalchemy.passkeys import SqlPasskeyChallengeStore, SqlPasskeyStore
from ostiary.storage.sqlalchemy.users import SqlUserStore

SECRET = InstanceSecret(b"p" * 32)
ORIGIN = "http://localhost:8000"
RP_ID = "localhost"
META = RequestMeta(ip="127.0.0.1", user_agent="pytest", request_id="r-1")


@dataclass
class Passkeys:
    db: Database
    clock: FrozenClock
    users: SqlUserStore
    store: SqlPasskeyStore
    config: PasskeyConfig
    authenticator: PasskeyAuthenticator
    manage: PasskeyManager
    totp: TotpAuthenticator
    recovery: RecoveryCodes
    login: MfaLogin

    async def user(self, user_id: str) -> UserRecord:
        found = await self.users.get(user_id)
        assert found is not None
        return found

    def principal(self, user_id: str, *, age: float = 0.0, amr: tuple[str, ...] = ("pwd",)) -> Principal:
        """A session principal whose login was `age` seconds ago with these factors."""
        return Principal(
            subject=user_id,
            kind="user",
            method="session",
            username=f"user-{user_id}",
            auth_time=self.clock.now() - age,
            amr=amr,
        )

    async def register(
        self, device: SoftAuthenticator, user_id: str, *, passwordless: bool = True, **bend: Any
    ) -> Registered:
        user = await self.user(user_id)
        options = await self.manage.registration_options(
            user, self.principal(user_id), META, passwordless=passwordless
        )
        return await self.manage.register(user, device.create(options, **bend), META, name=None)

    async def audit_events(self, event: str) -> list[dict[str, Any]]:
        query = select(t.audit_events).where(t.audit_events.c.event == event).order_by(t.audit_events.c.id)
        async with self.db.read() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings().all()]


def device(**kwargs: Any) -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID, **kwargs)


async def make_passkeys(path: Path) -> Passkeys:
    db = await migrated_db(f"sqlite+aiosqlite:///{path / 'passkeys.db'}")
    users = SqlUserStore(db)
    for user_id in ("u1", "u2"):
        await users.create(NewUser(user_id, f"user-{user_id}", None, None, created_at=1.0))
    clock = FrozenClock()
    auditor = Auditor(SqlAuditLog(db), clock)
    config = PasskeyConfig.for_issuer(ORIGIN, "ostiary-test", 300)
    store = SqlPasskeyStore(db)
    challenges = PasskeyChallenges(SqlPasskeyChallengeStore(db), clock, config.challenge_seconds)
    authenticator = PasskeyAuthenticator(config, store, challenges, users, auditor, clock)
    recovery = RecoveryCodes(SqlRecoveryCodeStore(db), SECRET, clock)
    manage = PasskeyManager(
        config, store, challenges, recovery, SECRET, auditor, clock, reauth_window_seconds=600
    )
    totp = TotpAuthenticator(SqlTotpStore(db), SECRET, clock, TotpConfig("ostiary-test", 600))
    throttle = MfaThrottle(SqlAttemptStore(db), clock, MfaThrottleConfig(5, 300, 86400))
    login = MfaLogin(
        SqlMfaChallengeStore(db), totp, recovery, throttle, users, auditor, clock, passkeys=authenticator
    )
    return Passkeys(db, clock, users, store, config, authenticator, manage, totp, recovery, login)
