"""Password login: one generic failure for every reason, equal cost for unknown users (SEC-60, SEC-64).

Order of steps: length cap before anything (no KDF on a 1 MiB password), per-account throttle, look
up, verify (a dummy verify for unknown users), then the account state. Disabled accounts are checked
after the verify so that their timing matches a wrong password.
"""

from __future__ import annotations

from ostiary.authn.accounts import CredentialRevoker
from ostiary.authn.audit import Auditor
from ostiary.authn.hashing_pool import AsyncPasswordHashers
from ostiary.authn.lockout import Lockout
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.core.context import RequestMeta
from ostiary.core.errors import InvalidCredentials, RateLimited
from ostiary.storage.interfaces.users import UserRecord, UserStore

MAX_LOGIN_LENGTH = 320


class PasswordLogin:
    def __init__(
        self,
        users: UserStore,
        hashers: AsyncPasswordHashers,
        policy: PasswordPolicy,
        lockout: Lockout,
        auditor: Auditor,
        on_lockout: CredentialRevoker | None = None,
    ) -> None:
        self._on_lockout = on_lockout  # refresh-token families end when the account locks
        self._users = users
        self._hashers = hashers
        self._policy = policy
        self._lockout = lockout
        self._audit = auditor

    async def authenticate(self, login: str, password: str, meta: RequestMeta) -> UserRecord:
        if not login or len(login) > MAX_LOGIN_LENGTH:
            raise InvalidCredentials()
        self._policy.check_length_only(password)
        key = Lockout.key_for(login)
        try:
            prior_failures = await self._lockout.check(key)
        except RateLimited:
            await self._audit.record("login.throttled", meta, outcome="failure", login=login[:150])
            raise
        user = await self._users.find_by_login(login)
        if user is None or user.password_hash is None:
            await self._hashers.dummy_verify(password)
            await self._fail(key, login, meta, reason="unknown_user")
        assert user is not None
        assert user.password_hash is not None
        result = await self._hashers.verify(password, user.password_hash)
        if not result.ok:
            await self._fail(key, login, meta, reason="wrong_password", subject=user.id)
        if user.disabled:
            await self._fail(key, login, meta, reason="disabled", subject=user.id)
        if prior_failures is not None:  # no write on the common path of a clean login
            await self._lockout.succeeded(key)
        if result.needs_rehash:
            # Transparent upgrade (SEC-05): bcrypt/pbkdf2 imports and old argon2 parameters.
            new_hash = await self._hashers.hash(password)
            await self._users.update(user.id, password_hash=new_hash, updated_at=user.updated_at)
        await self._audit.record("login.success", meta, actor=user.id, subject=user.id, factor="password")
        return user

    async def _fail(
        self, key: str, login: str, meta: RequestMeta, *, reason: str, subject: str | None = None
    ) -> None:
        state = await self._lockout.failed(key)
        await self._audit.record(
            "login.failure",
            meta,
            outcome="failure",
            subject=subject,
            login=login[:150],
            reason=reason,
            failures=state.failures,
            factor="password",
        )
        if self._lockout.delay_after(state.failures) and not self._lockout.delay_after(state.failures - 1):
            await self._audit.record(
                "login.lockout", meta, outcome="failure", subject=subject, login=login[:150]
            )
            if subject is not None and self._on_lockout is not None:
                await self._on_lockout.revoke_user(subject, reason="lockout")
        raise InvalidCredentials()
