"""Password reset by email (SEC-06, SEC-64): same answer for every address, single use, no login.

`request` only checks the shape of the address and hands everything else — look-up, token, mail —
to the mailer's background, so known and unknown addresses get the same bytes after the same work.
`complete` checks the new password against the policy *before* using the link up (a refused password
does not burn it), consumes it atomically, sets the password, ends every session and refresh-token
family of the user and mails a notice. It never logs anyone in: the user logs in afterwards, with
their second factor when they have one.
"""

from __future__ import annotations

from ostiary.authn.accounts import AccountService
from ostiary.authn.audit import Auditor
from ostiary.authn.email_links import EmailLinks, LinkInvalid, requested_address, same_address
from ostiary.authn.mailer import Mailer
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.email_tokens import EmailToken
from ostiary.storage.interfaces.users import UserRecord, UserStore


class PasswordReset:
    def __init__(
        self,
        users: UserStore,
        links: EmailLinks,
        accounts: AccountService,
        policy: PasswordPolicy,
        mailer: Mailer,
        auditor: Auditor,
    ) -> None:
        self._users = users
        self._links = links
        self._accounts = accounts
        self._policy = policy
        self._mailer = mailer
        self._audit = auditor

    @property
    def ttl_seconds(self) -> int:
        return self._links.ttl("reset_password")

    def request(self, email: str | None, meta: RequestMeta) -> None:
        address = requested_address(email)
        self._mailer.submit(lambda: self._send(address, meta), meta, what="reset_password")

    async def check(self, token: str | None) -> UserRecord:
        """The account a live reset link is for (to show the form); LinkInvalid otherwise."""
        return await self._account_of(await self._links.peek(token, "reset_password"))

    async def complete(self, token: str | None, new_password: str, meta: RequestMeta) -> UserRecord:
        user = await self._account_of(await self._links.peek(token, "reset_password"))
        self._policy.check(new_password, username=user.username, email=user.email, has_mfa=user.mfa_enabled)
        try:
            await self._links.consume(token, "reset_password")
        except LinkInvalid:
            await self._audit.record(
                "password.reset", meta, outcome="failure", subject=user.id, reason="link_used"
            )
            raise
        await self._accounts.reset_password(user, new_password, meta)
        await self._links.void(user.id, "reset_password", "magic_link")  # older links die with the password
        return user

    async def _account_of(self, entry: EmailToken) -> UserRecord:
        user = await self._users.get(entry.user_id)
        if user is None or user.disabled or not same_address(user.email, entry.email):
            raise LinkInvalid()
        return user

    async def _send(self, address: str, meta: RequestMeta) -> None:
        user = await self._users.find_by_login(address)
        if user is None or user.disabled or not user.email:
            await self._audit.record(
                "password.reset_request",
                meta,
                outcome="failure",
                login=address[:150],
                reason="unknown_address",
            )
            return
        link = await self._links.issue(user, "reset_password")
        await self._audit.record("password.reset_request", meta, subject=user.id)
        await self._mailer.deliver(
            user.email,
            "reset_password",
            meta,
            user_id=user.id,
            username=user.username,
            link=link.url,
            expires_minutes=link.ttl_seconds // 60,
            mfa=user.mfa_enabled,
        )
