"""Wiring of mail (docs/email.md): the sender chosen by settings, the background mailer, single-use
links, account notices, password reset, magic-link login and the new-device notice.

Built in two steps because `AccountService` both sends account mail and is used by the reset:
`build_mail` first (its `account_mail` goes into AccountService), then `build_email_flows`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ostiary.authn.account_mail import AccountMail
from ostiary.authn.accounts import AccountService
from ostiary.authn.audit import Auditor
from ostiary.authn.email_links import EmailLinks
from ostiary.authn.login_notices import LoginNotices
from ostiary.authn.magic_link import MagicLinkLogin
from ostiary.authn.mail import MailSender, MailTemplates, OutboxMailSender
from ostiary.authn.mail_smtp import SmtpConfig, SmtpMailSender
from ostiary.authn.mailer import Mailer
from ostiary.authn.password_policy import PasswordPolicy
from ostiary.authn.password_reset import PasswordReset
from ostiary.core.clock import Clock
from ostiary.core.secrets import InstanceSecret
from ostiary.core.settings import Settings
from ostiary.storage.interfaces.users import UserStore
from ostiary.storage.sqlalchemy.database import Database
from ostiary.storage.sqlalchemy.email_tokens import SqlEmailTokenStore
from ostiary.storage.sqlalchemy.known_devices import SqlKnownDeviceStore

log = logging.getLogger("ostiary.mail")
DEVICE_FINGERPRINT_PURPOSE = "login-device-fingerprint"
OUTBOX = "outbox"


@dataclass
class MailWiring:
    mailer: Mailer
    outbox: OutboxMailSender | None  # the development backend, when it is the one in use
    links: EmailLinks
    account_mail: AccountMail  # verification and notices; AccountService sends through it


@dataclass
class EmailWiring:
    mailer: Mailer
    outbox: OutboxMailSender | None
    links: EmailLinks
    account_mail: AccountMail
    reset: PasswordReset
    magic_link: MagicLinkLogin | None  # None when OSTIARY_MAGIC_LINK_ENABLED=false (no route)
    login_notices: LoginNotices | None  # None when OSTIARY_LOGIN_NOTICES_ENABLED=false

    async def close(self) -> None:
        await self.mailer.close()


def mail_sender(settings: Settings, clock: Clock) -> MailSender:
    if settings.resolved_mail_backend == "smtp":
        assert settings.smtp_host is not None  # Settings refuses smtp without a host
        return SmtpMailSender(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password,
                ca_file=settings.smtp_ca_file,
                timeout_seconds=settings.smtp_timeout_seconds,
            )
        )
    return OutboxMailSender(settings.data_dir / OUTBOX, clock)


def build_mail(
    settings: Settings, db: Database, clock: Clock, users: UserStore, auditor: Auditor
) -> MailWiring:
    sender = mail_sender(settings, clock)
    if isinstance(sender, OutboxMailSender):
        log.info("mail goes to the development outbox %s (no SMTP configured)", sender.directory)
    mailer = Mailer(
        sender,
        MailTemplates(),
        auditor,
        clock,
        from_address=settings.resolved_mail_from,
        issuer=settings.issuer,
    )
    links = EmailLinks(
        SqlEmailTokenStore(db),
        clock,
        issuer=settings.issuer,
        ttl_seconds={
            "verify_email": settings.email_verify_ttl_seconds,
            "reset_password": settings.password_reset_ttl_seconds,
            "magic_link": settings.magic_link_ttl_seconds,
        },
    )
    outbox = sender if isinstance(sender, OutboxMailSender) else None
    return MailWiring(mailer, outbox, links, AccountMail(mailer, links, users, auditor, clock))


def build_email_flows(
    settings: Settings,
    mail: MailWiring,
    db: Database,
    clock: Clock,
    secret: InstanceSecret,
    users: UserStore,
    accounts: AccountService,
    policy: PasswordPolicy,
    auditor: Auditor,
) -> EmailWiring:
    reset = PasswordReset(users, mail.links, accounts, policy, mail.mailer, auditor)
    magic = MagicLinkLogin(users, mail.links, mail.mailer, auditor) if settings.magic_link_enabled else None
    notices = (
        LoginNotices(SqlKnownDeviceStore(db), secret.derive(DEVICE_FINGERPRINT_PURPOSE), mail.mailer, clock)
        if settings.login_notices_enabled
        else None
    )
    return EmailWiring(mail.mailer, mail.outbox, mail.links, mail.account_mail, reset, magic, notices)
