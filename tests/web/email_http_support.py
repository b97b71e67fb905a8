"""Builders of the email HTTP tests: a harness whose mail goes over SMTP to a real local server
(aiosmtpd on a free loopback port), on a frozen clock, and helpers to follow the links it received."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from authn.mail_sink import Received, SmtpSink
from helpers import Harness, free_port, make_app
from ostiary.core.clock import FrozenClock

NO_MAIL_LIMITS = {"rate_limit_mail_per_ip": "10000/minute", "rate_limit_mail_per_address": "10000/minute"}


@dataclass
class MailWorld:
    h: Harness
    sink: SmtpSink

    @property
    def clock(self) -> FrozenClock:
        clock = self.h.services.clock
        assert isinstance(clock, FrozenClock)
        return clock

    async def settle(self) -> None:
        """Let every background mail job finish (look-ups, tokens, SMTP delivery)."""
        await self.h.services.email.mailer.drain()

    async def mails_to(self, address: str, count: int = 1) -> list[Received]:
        await self.settle()
        return await self.sink.wait_for(count, to=address)

    async def last_mail_to(self, address: str, count: int = 1) -> Received:
        return (await self.mails_to(address, count))[-1]


@asynccontextmanager
async def mail_world(tmp_path: Path, database_url: str, **overrides: Any) -> AsyncIterator[MailWorld]:
    sink = SmtpSink.start(free_port())
    try:
        settings: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 5,
            **NO_MAIL_LIMITS,
            **overrides,
        }
        async with make_app(tmp_path, database_url, clock=FrozenClock(), **settings) as harness:
            world = MailWorld(harness, sink)
            try:
                yield world
            finally:
                await world.settle()
    finally:
        sink.stop()


def path_of(url: str) -> str:
    """`/path?query` of an absolute link from a mail, for the ASGI client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def token_of(url: str) -> str:
    values = parse_qs(urlsplit(url).query)["token"]
    assert len(values) == 1
    return values[0]


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)


def comparable_headers(response: httpx.Response) -> dict[str, str]:
    """Headers that must not differ between two enumeration-safe answers (minus per-request ids)."""
    varying = {"x-request-id", "date", "set-cookie", "content-security-policy"}
    return {k: v for k, v in response.headers.items() if k.lower() not in varying}
