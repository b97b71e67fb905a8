"""Mail delivery: the templates, the development outbox, SMTP (plain, STARTTLS with credentials,
implicit TLS) against a real local aiosmtpd server, and the background mailer's failure handling."""

from __future__ import annotations

import asyncio
import ssl
import stat
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import ValidationError

from authn.mail_sink import SmtpSink, make_certificate, server_tls
from helpers import Harness, audit_rows, free_port, make_app, make_settings
from ostiary.authn.mail import MailTemplates, OutboxMailSender, RenderedMail, build_message, valid_address
from ostiary.authn.mail_smtp import SmtpConfig, SmtpMailSender
from ostiary.authn.mailer import Mailer
from ostiary.compose.email import mail_sender
from ostiary.core.clock import FrozenClock
from ostiary.core.context import RequestMeta

META = RequestMeta(ip="192.0.2.1", user_agent="pytest", request_id="rid-mail-0001")
KINDS_AND_CONTEXT = {
    "verify_email": {"link": "https://id.example/email/verify?token=t", "expires_hours": 24},
    "reset_password": {
        "link": "https://id.example/password-reset/confirm?token=t",
        "expires_minutes": 60,
        "mfa": True,
    },
    "magic_link": {"link": "https://id.example/magic-link/confirm?token=t", "expires_minutes": 15},
    "register_attempt": {"when": "now", "ip": "192.0.2.1", "browser": "b"},
    "password_changed": {"when": "now", "ip": "192.0.2.1", "browser": "b"},
    "mfa_changed": {"when": "now", "ip": "192.0.2.1", "browser": "b", "change": "TOTP was turned off"},
    "email_changed": {"when": "now", "ip": "192.0.2.1", "browser": "b", "new_email": "n@example.org"},
    "new_device": {"when": "now", "ip": "192.0.2.1", "browser": "b", "method": "your password"},
}


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with make_app(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'm.db'}") as harness:
        yield harness


def message(to: str = "alice@example.org") -> EmailMessage:
    return build_message(
        to,
        RenderedMail("Hello", "Body text\n", "<p>Body</p>"),
        sender="ostiary <no-reply@id.example>",
        clock=FrozenClock(),
    )


@pytest.mark.parametrize("kind", sorted(KINDS_AND_CONTEXT))
def test_every_template_renders_a_subject_and_a_text_body(kind: str) -> None:
    rendered = MailTemplates().render(
        kind, issuer="https://id.example", username="alice", **KINDS_AND_CONTEXT[kind]
    )
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert "alice" in rendered.text
    assert "{{" not in rendered.text
    if "link" in KINDS_AND_CONTEXT[kind]:
        assert rendered.html is not None
        assert KINDS_AND_CONTEXT[kind]["link"] in rendered.text


def test_html_escapes_and_missing_variables_fail_loudly() -> None:
    rendered = MailTemplates().render(
        "magic_link",
        issuer="https://id.example",
        username="<script>x</script>",
        **KINDS_AND_CONTEXT["magic_link"],
    )
    assert rendered.html is not None
    assert "<script>x</script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        MailTemplates().render("magic_link", issuer="https://id.example", username="alice")


@pytest.mark.parametrize(
    "address",
    [
        "",
        "alice",
        "alice@",
        "@example.org",
        "a@b",
        "a b@example.org",
        "a@example.org\r\nBcc: e@evil.example",
        "a@@b.org",
        "<a@b.org>",
    ],
)
def test_recipients_that_are_not_one_plain_address_are_refused(address: str) -> None:
    assert not valid_address(address)
    with pytest.raises(ValueError):
        message(address)


def test_a_message_has_the_headers_of_an_automatic_mail() -> None:
    built = message()
    assert built["To"] == "alice@example.org"
    assert built["Auto-Submitted"] == "auto-generated"
    assert built["Message-ID"].endswith("@id.example>")
    assert built.get_body(preferencelist=("html",)) is not None


async def test_the_outbox_writes_private_eml_files_and_lists_them(tmp_path: Path) -> None:
    clock = FrozenClock()
    outbox = OutboxMailSender(tmp_path / "outbox", clock)
    assert outbox.list() == []
    await outbox.send(message("one@example.org"))
    clock.advance(1)
    await outbox.send(message("two@example.org"))
    files = outbox.list()
    assert [OutboxMailSender.read(p)["To"] for p in files] == ["one@example.org", "two@example.org"]
    assert all(p.suffix == ".eml" for p in files)
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700


async def test_without_smtp_settings_reset_mail_lands_in_the_outbox(h: Harness) -> None:
    from helpers import add_user

    assert h.services.settings.resolved_mail_backend == "outbox"
    await add_user(h.services, "alice", email="alice@example.org")
    assert (await h.http.post("/auth/password-reset", json={"email": "alice@example.org"})).status_code == 202
    await h.services.email.mailer.drain()
    outbox = h.services.email.outbox
    assert outbox is not None
    assert outbox.directory == h.services.settings.data_dir / "outbox"
    [path] = outbox.list()
    mail = OutboxMailSender.read(path)
    assert mail["Subject"] == "Reset your password"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "/password-reset/confirm?token=" in body.get_content()  # type: ignore[attr-defined]


async def test_links_stay_verbatim_in_the_raw_file_and_non_ascii_text_survives(tmp_path: Path) -> None:
    clock = FrozenClock()
    outbox = OutboxMailSender(tmp_path / "outbox", clock)
    link = "https://id.example/password-reset/confirm?token=" + "A" * 43
    for name in ("alice", "Zoë Ωmega"):
        clock.advance(1)  # file names sort by time
        rendered = MailTemplates().render(
            "reset_password",
            issuer="https://id.example",
            username=name,
            link=link,
            expires_minutes=60,
            mfa=False,
        )
        await outbox.send(
            build_message("alice@example.org", rendered, sender="a@id.example", clock=FrozenClock())
        )
    ascii_file, unicode_file = outbox.list()
    assert link.encode() in ascii_file.read_bytes()  # copyable from a text editor
    body = OutboxMailSender.read(unicode_file).get_body(preferencelist=("plain",))
    assert body is not None
    assert "Zoë Ωmega" in body.get_content()  # type: ignore[attr-defined]
    assert link in body.get_content()  # type: ignore[attr-defined]


def test_the_backend_follows_the_settings(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///x.db"
    assert isinstance(mail_sender(make_settings(tmp_path, url), FrozenClock()), OutboxMailSender)
    smtp = mail_sender(make_settings(tmp_path, url, smtp_host="mail.example.org"), FrozenClock())
    assert isinstance(smtp, SmtpMailSender)
    assert smtp.config.security == "starttls"
    assert smtp.config.port == 587
    forced = make_settings(tmp_path, url, smtp_host="mail.example.org", mail_backend="outbox")
    assert isinstance(mail_sender(forced, FrozenClock()), OutboxMailSender)
    assert make_settings(tmp_path, url).resolved_mail_from == "ostiary <no-reply@127.0.0.1>"
    with pytest.raises(ValidationError):
        make_settings(tmp_path, url, mail_backend="smtp")
    with pytest.raises(ValidationError):  # credentials in clear text off this machine
        make_settings(tmp_path, url, smtp_host="mail.example.org", smtp_security="none", smtp_username="u")
    with pytest.raises(ValidationError):  # SEC-06: reset links live at most one hour
        make_settings(tmp_path, url, password_reset_ttl_seconds=3601)
    with pytest.raises(ValidationError):
        make_settings(tmp_path, url, magic_link_ttl_seconds=901)
    assert "smtp_password" not in repr(make_settings(tmp_path, url, smtp_password="hunter2-secret"))
    assert "hunter2-secret" not in repr(make_settings(tmp_path, url, smtp_password="hunter2-secret"))


async def test_plain_smtp_to_a_local_server() -> None:
    sink = SmtpSink.start(free_port())
    try:
        await SmtpMailSender(SmtpConfig("127.0.0.1", sink.port, security="none", timeout_seconds=5)).send(
            message()
        )
        [got] = await sink.wait_for(1)
        assert got.rcpt_tos == ["alice@example.org"]
        assert got.subject == "Hello"
        assert (got.html or "").strip() == "<p>Body</p>"
    finally:
        sink.stop()


async def test_starttls_with_a_private_ca_and_credentials(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    sink = SmtpSink.start(free_port(), starttls=server_tls(cert, key), credentials=("mailer", "s3cret-pass"))
    try:
        config = SmtpConfig(
            "localhost",
            sink.port,
            security="starttls",
            username="mailer",
            password="s3cret-pass",
            ca_file=cert,
            timeout_seconds=5,
        )
        assert "s3cret-pass" not in repr(config)
        await SmtpMailSender(config).send(message())
        assert len(await sink.wait_for(1)) == 1
        assert sink.logins == ["mailer"]
        wrong = SmtpConfig(
            "localhost", sink.port, username="mailer", password="wrong", ca_file=cert, timeout_seconds=5
        )
        with pytest.raises(aiosmtplib.SMTPException):
            await SmtpMailSender(wrong).send(message())
        untrusted = SmtpConfig(
            "localhost", sink.port, timeout_seconds=5
        )  # the system store does not know this CA
        with pytest.raises((aiosmtplib.SMTPException, ssl.SSLError)):
            await SmtpMailSender(untrusted).send(message())
        assert len(sink.received()) == 1
    finally:
        sink.stop()


async def test_implicit_tls(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    sink = SmtpSink.start(free_port(), implicit_tls=server_tls(cert, key))
    try:
        await SmtpMailSender(
            SmtpConfig("127.0.0.1", sink.port, security="tls", ca_file=cert, timeout_seconds=5)
        ).send(message())
        assert len(await sink.wait_for(1)) == 1
    finally:
        sink.stop()


async def test_starttls_is_never_silently_skipped_when_the_server_does_not_offer_it(tmp_path: Path) -> None:
    sink = SmtpSink.start(free_port())  # no TLS at all
    try:
        with pytest.raises(aiosmtplib.SMTPException):
            await SmtpMailSender(
                SmtpConfig("127.0.0.1", sink.port, security="starttls", timeout_seconds=5)
            ).send(message())
        assert sink.received() == []
    finally:
        sink.stop()


@pytest.mark.sec("SEC-64")
async def test_an_unreachable_relay_is_logged_and_audited_and_never_reaches_the_response(
    tmp_path: Path,
) -> None:
    from helpers import add_user

    closed_port = free_port()  # nothing listens here
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    async with make_app(
        tmp_path,
        url,
        smtp_host="127.0.0.1",
        smtp_port=closed_port,
        smtp_security="none",
        smtp_timeout_seconds=2,
    ) as h:
        await add_user(h.services, "alice", email="alice@example.org")
        known = await h.http.post(
            "/auth/password-reset", json={"email": "alice@example.org"}, headers={"X-Request-ID": "r-0001"}
        )
        unknown = await h.http.post(
            "/auth/password-reset", json={"email": "ghost@example.org"}, headers={"X-Request-ID": "r-0001"}
        )
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        await h.services.email.mailer.drain()
        failed = await audit_rows(h.services, "mail.failed")
        assert len(failed) == 1
        assert failed[0]["details"]["kind"] == "reset_password"
        assert failed[0]["outcome"] == "failure"


async def test_failing_jobs_are_audited_not_raised_and_the_queue_is_bounded(h: Harness) -> None:
    class Refusing:
        async def send(self, message: EmailMessage) -> None:
            raise aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@example.org")

    mailer = Mailer(
        Refusing(),
        MailTemplates(),
        h.services.auditor,
        h.services.clock,
        from_address="a@b.example",
        issuer="https://id.example",
        max_pending=2,
    )
    assert not await mailer.deliver(
        "x@example.org", "password_changed", META, user_id=None, username="x", when="", ip="", browser=""
    )

    async def broken() -> None:
        raise RuntimeError("boom")

    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    mailer.submit(broken, META, what="test_broken")
    mailer.submit(slow, META, what="test_slow")
    mailer.submit(slow, META, what="test_dropped")  # the third pending job is over the bound
    gate.set()
    await mailer.drain()
    events = [
        (r["event"], r["details"].get("kind"))
        for r in await audit_rows(h.services)
        if r["event"].startswith("mail.")
    ]
    assert ("mail.failed", "password_changed") in events
    assert ("mail.failed", "test_broken") in events
    assert ("mail.dropped", "test_dropped") in events
