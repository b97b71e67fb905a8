"""Registration, password changes and account state (SEC-01..04, SEC-12, SEC-64).

Registration answers the same whether or not the username or email is taken: the password is
hashed on both paths (equal cost), and a duplicate is swallowed after the insert fails.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from ostiary.authn.audit import Auditor
from ostiary.authn.hashing_pool import AsyncPasswordHashers
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.authn.sessions import NewSession, SessionManager
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.core.errors import Conflict, NotFound, ValidationFailed
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.storage.interfaces.users import NewUser, UserRecord, UserStore

USERNAME_MAX = 150


class CredentialRevoker(Protocol):
    """Ends a user's long-lived credentials other than sessions (refresh-token families)."""

    async def revoke_user(self, user_id: str, *, reason: str) -> int: ...


class AccountMail(Protocol):
    """Mail about an account (authn/account_mail.py). Each call schedules and returns at once, so the
    answer to a registration does not depend on whether the address was taken."""

    def registered(self, user_id: str, meta: RequestMeta) -> None: ...

    def registration_attempted(self, email: str, meta: RequestMeta) -> None: ...

    def password_changed(self, user_id: str, meta: RequestMeta) -> None: ...


def new_user_id() -> str:
    """A stable subject id, never reassigned (SEC-43): random, not derived from the username."""
    return str(uuid.uuid4())


def validate_username(username: str) -> str:
    username = username.strip()
    if not 1 <= len(username) <= USERNAME_MAX:
        raise ValidationFailed("Usernames have 1 to 150 characters.", field="username")
    if "@" in username or any(c.isspace() or not c.isprintable() for c in username):
        raise ValidationFailed(
            "Usernames cannot contain '@', spaces or control characters.", field="username"
        )
    return username


class AccountService:
    def __init__(
        self,
        users: UserStore,
        hashers: AsyncPasswordHashers,
        policy: PasswordPolicy,
        sessions: SessionManager,
        auditor: Auditor,
        clock: Clock,
        credentials: CredentialRevoker | None = None,
        mail: AccountMail | None = None,
    ) -> None:
        self._credentials = credentials
        self._mail = mail
        self._users = users
        self._hashers = hashers
        self._policy = policy
        self._sessions = sessions
        self._audit = auditor
        self._clock = clock

    async def register(self, username: str, email: str | None, password: str, meta: RequestMeta) -> bool:
        """Create the account; True if created. Callers must answer identically either way."""
        username = validate_username(username)
        self._policy.check(password, username=username, email=email, has_mfa=False)
        password_hash = await self._hashers.hash(password)
        user = NewUser(new_user_id(), username, email, password_hash, created_at=self._clock.now())
        try:
            await self._users.create(user)
        except Conflict:
            await self._audit.record("register.duplicate", meta, outcome="failure", username=username[:150])
            if email and self._mail is not None:  # tell the address's owner, not the caller (SEC-64)
                self._mail.registration_attempted(email, meta)
            return False
        await self._audit.record("register", meta, actor=user.id, subject=user.id)
        if email and self._mail is not None:
            self._mail.registered(user.id, meta)
        return True

    async def change_password(
        self, user: UserRecord, current: str, new: str, session: SessionRecord | None, meta: RequestMeta
    ) -> NewSession | None:
        """Verify the current password, set the new one, end every other session (SEC-04).

        Returns the rotated session when called from a browser session.
        """
        self._policy.check_length_only(current)
        if user.password_hash is None or not (await self._hashers.verify(current, user.password_hash)).ok:
            await self._audit.record(
                "password.change", meta, outcome="failure", actor=user.id, subject=user.id
            )
            raise ValidationFailed("The current password is not correct.", field="current_password")
        await self._set_password(user, new)
        await self._sessions.revoke_user(user.id, keep=session.digest if session else None)
        await self._revoke_credentials(user.id, "password_change")
        rotated = await self._sessions.rotate(session, meta) if session else None
        await self._audit.record("password.change", meta, actor=user.id, subject=user.id)
        if self._mail is not None:
            self._mail.password_changed(user.id, meta)
        return rotated

    async def reset_password(self, user: UserRecord, new: str, meta: RequestMeta) -> None:
        """After a used reset link (authn/password_reset.py): set the password and end every session
        and refresh-token family (SEC-06). Nobody is logged in: the next login still needs MFA."""
        await self._set_password(user, new)
        await self._sessions.revoke_user(user.id)
        await self._revoke_credentials(user.id, "password_reset")
        await self._audit.record("password.reset", meta, actor=user.id, subject=user.id)
        if self._mail is not None:
            self._mail.password_changed(user.id, meta)

    async def admin_set_password(self, user_id: str, new: str, actor: str, meta: RequestMeta) -> None:
        user = await self._require(user_id)
        await self._set_password(user, new)
        await self._sessions.revoke_user(user.id)
        await self._revoke_credentials(user.id, "password_change")
        await self._audit.record("admin.set_password", meta, actor=actor, subject=user.id)
        if self._mail is not None:
            self._mail.password_changed(user.id, meta)

    async def set_disabled(self, user_id: str, disabled: bool, actor: str, meta: RequestMeta) -> None:
        user = await self._require(user_id)
        await self._users.update(user.id, disabled=disabled, updated_at=self._clock.now())
        if disabled:
            await self._sessions.revoke_user(user.id)  # SEC-12: a disabled user is out at once
            await self._revoke_credentials(user.id, "user_disabled")
        await self._audit.record(
            "admin.disable" if disabled else "admin.enable", meta, actor=actor, subject=user.id
        )

    async def sign_out_everywhere(self, user_id: str) -> tuple[int, int]:
        """An administrator's sign-out of a user (a lost device, a suspected compromise): every
        browser session ends, and so do the user's tokens — access tokens by the user's not-before,
        refresh-token families revoked. Returns (sessions ended, token families revoked)."""
        user = await self._require(user_id)
        sessions = await self._sessions.revoke_user(user.id)
        return sessions, await self._revoke_credentials(user.id, "admin_sign_out")

    async def _revoke_credentials(self, user_id: str, reason: str) -> int:
        if self._credentials is None:
            return 0
        return await self._credentials.revoke_user(user_id, reason=reason)

    async def _set_password(self, user: UserRecord, new: str) -> None:
        self._policy.check(new, username=user.username, email=user.email, has_mfa=user.mfa_enabled)
        now = self._clock.now()
        password_hash = await self._hashers.hash(new)
        await self._users.update(
            user.id, password_hash=password_hash, password_changed_at=now, updated_at=now
        )

    async def _require(self, user_id: str) -> UserRecord:
        user = await self._users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        return user
