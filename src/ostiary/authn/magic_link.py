"""Passwordless login by a link sent by email: single use, short-lived, bound to the asking browser.

`request` answers the same for every address (the look-up and the mail run in the background,
SEC-64). The link is bound to a random nonce the asking browser holds in a cookie: its SHA-256 is
stored with the token, so a link opened in another browser (a forwarded mail, a mailbox someone else
reads) fails with a clear message and stays usable where it was asked for. The link proves one
factor, possession of the mailbox: for a user with MFA the web layer hands over to the second step
(authn/mfa_login.py) instead of creating a session.
"""

from __future__ import annotations

from ostiary.authn.audit import Auditor
from ostiary.authn.email_links import (
    EmailLinks,
    LinkFromOtherBrowser,
    LinkInvalid,
    requested_address,
    same_address,
)
from ostiary.authn.mailer import Mailer
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.users import UserRecord, UserStore

AMR = "email"  # no RFC 8176 value fits "possession of a mailbox"; documented in docs/email.md


class MagicLinkLogin:
    def __init__(self, users: UserStore, links: EmailLinks, mailer: Mailer, auditor: Auditor) -> None:
        self._users = users
        self._links = links
        self._mailer = mailer
        self._audit = auditor

    @property
    def ttl_seconds(self) -> int:
        return self._links.ttl("magic_link")

    def request(self, email: str | None, browser_nonce: str, meta: RequestMeta) -> None:
        address = requested_address(email)
        self._mailer.submit(lambda: self._send(address, browser_nonce, meta), meta, what="magic_link")

    async def check(self, token: str | None, browser_nonce: str | None) -> None:
        """Raise unless the link is live and this browser asked for it (to show the confirm page)."""
        entry = await self._links.peek(token, "magic_link")
        if not self._links.bound_to(entry, browser_nonce):
            raise LinkFromOtherBrowser()

    async def complete(self, token: str | None, browser_nonce: str | None, meta: RequestMeta) -> UserRecord:
        """Use the link up; the user it proves (one factor). The caller starts the session or MFA."""
        try:
            entry = await self._links.consume(token, "magic_link", browser_nonce=browser_nonce)
        except (LinkInvalid, LinkFromOtherBrowser) as exc:
            await self._audit.record(
                "login.failure", meta, outcome="failure", factor="email_link", reason=exc.code
            )
            raise
        user = await self._users.get(entry.user_id)
        if user is None or user.disabled or not same_address(user.email, entry.email):
            await self._audit.record(
                "login.failure",
                meta,
                outcome="failure",
                subject=entry.user_id,
                factor="email_link",
                reason="account",
            )
            raise LinkInvalid()
        if not user.email_verified:  # the link just proved the address
            await self._users.update(user.id, email_verified=True)
        event = "login.first_factor" if user.mfa_enabled else "login.success"
        await self._audit.record(event, meta, actor=user.id, subject=user.id, factor="email_link")
        return user

    async def _send(self, address: str, browser_nonce: str, meta: RequestMeta) -> None:
        user = await self._users.find_by_login(address)
        if user is None or user.disabled or not user.email:
            await self._audit.record(
                "login.link_request", meta, outcome="failure", login=address[:150], reason="unknown_address"
            )
            return
        link = await self._links.issue(user, "magic_link", binding=browser_nonce)
        await self._audit.record("login.link_request", meta, subject=user.id)
        await self._mailer.deliver(
            user.email,
            "magic_link",
            meta,
            user_id=user.id,
            username=user.username,
            link=link.url,
            expires_minutes=link.ttl_seconds // 60,
        )
