"""SMTP delivery (RFC 5321) with STARTTLS (RFC 3207) or implicit TLS (RFC 8314), through aiosmtplib.

TLS is verified (hostname and chain, against the system store or `OSTIARY_SMTP_CA_FILE`); with
`starttls` a relay that does not offer STARTTLS is an error, never a silent downgrade to plain text.
Every step has a timeout and the whole delivery a deadline, so a stuck relay cannot hold a worker.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import aiosmtplib

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_seconds: float = 10.0


class SmtpMailSender:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._tls: ssl.SSLContext | None = None
        if config.security != "none":
            self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    async def send(self, message: EmailMessage) -> None:
        config = self.config
        # aiosmtplib's timeout applies to each command; the outer deadline bounds the whole delivery.
        async with asyncio.timeout(config.timeout_seconds * 3):
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                validate_certs=True,
                tls_context=self._tls,
                timeout=config.timeout_seconds,
            )
