"""A real SMTP server on a free loopback port (aiosmtpd), for tests that read the mail ostiary sent.

`SmtpSink.start(...)` runs aiosmtpd's `Controller` in its own thread; every accepted message is parsed
into an `EmailMessage` and kept in `messages` with its envelope. TLS variants (STARTTLS, implicit TLS)
use a throw-away self-signed certificate for 127.0.0.1 / localhost made by `make_certificate`.
"""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import ipaddress
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LINK = re.compile(r"https?://[^\s<>\"]+")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())  # type: ignore[attr-defined]

    def link(self, path: str) -> str:
        """The one link in the text part whose path starts with `path`."""
        found = [u for u in LINK.findall(self.text) if path in u]
        assert len(set(found)) == 1, (path, self.text)
        return found[0]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=email.policy.default).parsebytes(
            envelope.original_content or envelope.content
        )
        assert isinstance(parsed, EmailMessage)
        with self._sink.lock:
            self._sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


@dataclass
class SmtpSink:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    logins: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    @classmethod
    def start(
        cls,
        port: int,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> SmtpSink:
        sink = cls(port=port)
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if credentials is not None:
            kwargs.update(authenticator=sink._authenticator(credentials), auth_required=True)
        controller = Controller(
            _Handler(sink),
            hostname=sink.host,
            port=port,
            ssl_context=implicit_tls,
            ready_timeout=10,
            **kwargs,
        )
        controller.start()
        sink._controller = controller
        return sink

    def _authenticator(self, credentials: tuple[str, str]) -> Any:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (data.login.decode(), data.password.decode()) == credentials
            )
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok, handled=False)

        return check

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.received() if address.casefold() in (r.casefold() for r in m.rcpt_tos)]

    async def wait_for(self, count: int, *, to: str | None = None, within: float = 10.0) -> list[Received]:
        """Poll until at least `count` messages (to `to`, if given) arrived; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = self.to(to) if to else self.received()
            if len(found) >= count or loop.time() > deadline:
                assert len(found) >= count, f"expected {count} mail(s), got {len(found)}"
                return found
            await asyncio.sleep(0.02)

    def wait_for_sync(self, count: int, *, to: str | None = None, within: float = 15.0) -> list[Received]:
        """`wait_for` for plain (browser) tests, which run outside an event loop."""
        deadline = time.monotonic() + within
        while True:
            found = self.to(to) if to else self.received()
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"expected {count} mail(s), got {len(found)}"
                return found
            time.sleep(0.05)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for 127.0.0.1 and localhost; the cert is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
