"""Mail about an account: address verification and the notices a user gets (SEC-04, SEC-14, SEC-64).

`AccountService` calls the scheduling methods (`registered`, `registration_attempted`,
`password_changed`); they return at once and the work runs in the mailer's background, so a
registration with a taken address answers exactly like a new one while the address's owner gets a
"someone tried to register with your address" mail instead of the caller learning anything.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ostiary.authn.audit import Auditor
from ostiary.authn.email_links import EmailLinks, LinkInvalid, same_address
from ostiary.authn.mail import valid_address
from ostiary.authn.mailer import Mailer
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.users import UserRecord, UserStore


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


class AccountMail:
    def __init__(
        self, mailer: Mailer, links: EmailLinks, users: UserStore, auditor: Auditor, clock: Clock
    ) -> None:
        self._mailer = mailer
        self._links = links
        self._users = users
        self._audit = auditor
        self._clock = clock

    # --- scheduled from AccountService and the account pages: return at once, never raise ----------

    def registered(self, user_id: str, meta: RequestMeta) -> None:
        self._mailer.submit(lambda: self._send_verification(user_id, meta), meta, what="verify_email")

    def registration_attempted(self, email: str, meta: RequestMeta) -> None:
        self._mailer.submit(
            lambda: self._send_registration_attempt(email, meta), meta, what="register_attempt"
        )

    def password_changed(self, user_id: str, meta: RequestMeta) -> None:
        self._mailer.submit(
            lambda: self._notice(user_id, "password_changed", meta), meta, what="password_changed"
        )

    def mfa_changed(self, user_id: str, meta: RequestMeta, *, change: str) -> None:
        """`change` is shown to the user, e.g. "Two-step verification was turned off"."""
        self._mailer.submit(
            lambda: self._notice(user_id, "mfa_changed", meta, change=change), meta, what="mfa_changed"
        )

    def email_changed(self, user_id: str, old_email: str | None, meta: RequestMeta) -> None:
        """After an address change: a notice to the old address (SEC-14), a link to the new one."""
        self._mailer.submit(
            lambda: self._send_email_changed(user_id, old_email, meta), meta, what="email_changed"
        )

    # --- verification ------------------------------------------------------------------------------

    def request_verification(self, user: UserRecord, meta: RequestMeta) -> bool:
        """Send a new verification link for the user's address; False if there is nothing to verify."""
        if not user.email or user.email_verified:
            return False
        self.registered(user.id, meta)
        return True

    async def verify(self, token: str | None, meta: RequestMeta) -> UserRecord:
        """Use a verification link: the account's current address is marked verified."""
        entry = await self._links.consume(token, "verify_email")
        user = await self._users.get(entry.user_id)
        if user is None or user.disabled or not same_address(user.email, entry.email):
            await self._audit.record("email.verify", meta, outcome="failure", subject=entry.user_id)
            raise LinkInvalid()
        if not user.email_verified:
            await self._users.update(user.id, email_verified=True)
        await self._audit.record("email.verify", meta, actor=user.id, subject=user.id)
        updated = await self._users.get(user.id)
        assert updated is not None
        return updated

    # --- the background jobs -----------------------------------------------------------------------

    async def _send_verification(self, user_id: str, meta: RequestMeta) -> None:
        user = await self._users.get(user_id)
        if user is None or user.disabled or not user.email or user.email_verified:
            return
        link = await self._links.issue(user, "verify_email")
        await self._mailer.deliver(
            user.email,
            "verify_email",
            meta,
            user_id=user.id,
            username=user.username,
            link=link.url,
            expires_hours=max(1, link.ttl_seconds // 3600),
        )

    async def _send_registration_attempt(self, email: str, meta: RequestMeta) -> None:
        if not valid_address(email):
            return
        owner = await self._users.find_by_login(email)
        if owner is None or owner.disabled or not owner.email:
            return
        await self._mailer.deliver(
            owner.email,
            "register_attempt",
            meta,
            user_id=owner.id,
            username=owner.username,
            **self._origin(meta),
        )

    async def _notice(self, user_id: str, kind: str, meta: RequestMeta, **context: str) -> None:
        user = await self._users.get(user_id)
        if user is None or not user.email:
            return
        await self._mailer.deliver(
            user.email, kind, meta, user_id=user.id, username=user.username, **self._origin(meta), **context
        )

    async def _send_email_changed(self, user_id: str, old_email: str | None, meta: RequestMeta) -> None:
        user = await self._users.get(user_id)
        if user is None:
            return
        if old_email and not same_address(old_email, user.email) and valid_address(old_email):
            await self._mailer.deliver(
                old_email,
                "email_changed",
                meta,
                user_id=user.id,
                username=user.username,
                new_email=user.email or "(none)",
                **self._origin(meta),
            )
        await self._send_verification(user_id, meta)

    def _origin(self, meta: RequestMeta) -> dict[str, str]:
        return {
            "when": when(self._clock.now()),
            "ip": meta.ip or "unknown",
            "browser": meta.user_agent[:120] or "unknown",
        }
