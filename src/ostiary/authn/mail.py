"""Mail messages, the `MailSender` protocol, the development outbox and the mail templates.

Messages are rendered from Jinja2 templates in `authn/mail_templates/`: `<kind>.txt` starts with a
`Subject:` line, then a blank line, then the plain-text body; `<kind>.html`, when present, becomes
the HTML alternative (autoescaped). Senders: SMTP (authn/mail_smtp.py) and the outbox below, which
writes each message as an `.eml` file so that a developer (or `ostiary serve --demo`) can open it.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from ostiary.core.clock import Clock
from ostiary.core.secrets import random_token

TEMPLATES = Path(__file__).with_name("mail_templates")
MAX_ADDRESS_LENGTH = 320


class MailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise; callers decide what a failure means (authn/mailer.py)."""
        ...


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str | None = None


class MailTemplates:
    """Renders `<kind>.txt` (+ optional `<kind>.html`). Missing variables are errors, not blanks."""

    def __init__(self, directory: Path = TEMPLATES) -> None:
        # `.html` autoescaped; `.txt` is plain text, where there is no markup to escape.
        self._env = Environment(
            loader=FileSystemLoader(directory),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, kind: str, **context: Any) -> RenderedMail:
        rendered = self._env.get_template(f"{kind}.txt").render(**context)
        head, _, body = rendered.partition("\n\n")
        if not head.startswith("Subject: "):
            raise ValueError(f"mail template {kind}.txt must start with a 'Subject: ' line")
        try:
            html: str | None = self._env.get_template(f"{kind}.html").render(**context)
        except TemplateNotFound:
            html = None
        return RenderedMail(head.removeprefix("Subject: ").strip(), body.lstrip("\n"), html)


def valid_address(address: str) -> bool:
    """A deliverable-looking single address: one '@', no spaces or control characters (no header
    injection), and within the SMTP limit. Nothing here resolves DNS."""
    if not address or len(address) > MAX_ADDRESS_LENGTH or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not local or not domain or "." not in domain.strip("."):
        return False
    return not any(c.isspace() or not c.isprintable() or c in '<>(),;:"[]\\' for c in address)


def build_message(to: str, mail: RenderedMail, *, sender: str, clock: Clock) -> EmailMessage:
    if not valid_address(to):
        raise ValueError("not a valid recipient address")
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = email.utils.formatdate(clock.now(), usegmt=True)
    domain = sender.rpartition("@")[2].rstrip(">").strip() or "localhost"
    message["Message-ID"] = f"<{random_token(16)}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to these
    message.set_content(mail.text, cte=_transfer_encoding(mail.text))
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", cte=_transfer_encoding(mail.html))
    return message


def _transfer_encoding(body: str) -> str:
    """7bit when it is legal (ASCII, lines within RFC 5322's 998): links stay copyable from an .eml
    file; quoted-printable otherwise (non-ASCII names)."""
    fits = body.isascii() and all(len(line) < 990 for line in body.splitlines())
    return "7bit" if fits else "quoted-printable"


class OutboxMailSender:
    """Development backend: each message becomes `<outbox>/<time>-<random>.eml` (mode 0600 in a
    0700 directory: the files hold live links)."""

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self._clock = clock

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message.as_bytes(policy=email.policy.SMTP))

    def _write(self, data: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{self._clock.now():017.6f}-{random_token(6)}.eml"
        temporary = self.directory / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        temporary.replace(self.directory / name)  # readers never see half a message

    def list(self) -> list[Path]:
        """The messages written so far, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p for p in self.directory.iterdir() if p.suffix == ".eml" and not p.name.startswith(".")
        )

    @staticmethod
    def read(path: Path) -> EmailMessage:
        with path.open("rb") as handle:
            parsed = BytesParser(policy=email.policy.default).parse(handle)
        assert isinstance(parsed, EmailMessage)
        return parsed
