"""Sends mail off the request path: rendered, delivered, audited, never raising into a response.

Flows that must not reveal whether an address has an account (password reset, magic link,
registration) hand the whole job — look-up, token, delivery — to `submit`, so the HTTP answer is
computed before and without any of it: same bytes and same work on the request path either way
(SEC-64). A failed delivery is logged and audited as `mail.failed`; it never reaches the caller.
Pending jobs are bounded: past `max_pending` a job is dropped (and audited) rather than queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ostiary.authn.audit import Auditor
from ostiary.authn.mail import MailSender, MailTemplates, build_message
from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta

log = logging.getLogger("ostiary.mail")

Job = Callable[[], Awaitable[None]]


class Mailer:
    def __init__(
        self,
        sender: MailSender,
        templates: MailTemplates,
        auditor: Auditor,
        clock: Clock,
        *,
        from_address: str,
        issuer: str,
        max_pending: int = 256,
        concurrency: int = 4,
    ) -> None:
        self.sender = sender
        self._templates = templates
        self._audit = auditor
        self._clock = clock
        self._from = from_address
        self._issuer = issuer
        self._max_pending = max_pending
        self._slots = asyncio.Semaphore(concurrency)
        self._pending: set[asyncio.Task[None]] = set()  # strong references: tasks are not GC'd mid-run

    def submit(self, job: Job, meta: RequestMeta, *, what: str) -> None:
        """Run `job` in the background. Its failures are logged and audited, never raised."""
        if len(self._pending) >= self._max_pending:
            log.warning("mail queue full; dropped a %s job", what)
            self._spawn(self._audit_quietly("mail.dropped", meta, outcome="failure", kind=what))
            return
        self._spawn(self._guarded(job, meta, what))

    async def deliver(
        self, to: str, kind: str, meta: RequestMeta, *, user_id: str | None, **context: Any
    ) -> bool:
        """Render `kind` and send it to `to` now; True when the relay accepted it."""
        try:
            rendered = self._templates.render(kind, issuer=self._issuer, **context)
            message = build_message(to, rendered, sender=self._from, clock=self._clock)
            async with self._slots:
                await self.sender.send(message)
        except Exception as exc:
            # The message text holds live links: log the failure's type, never the message.
            log.warning("mail delivery failed: kind=%s error=%s", kind, type(exc).__name__)
            await self._audit_quietly(
                "mail.failed", meta, outcome="failure", subject=user_id, kind=kind, error=type(exc).__name__
            )
            return False
        await self._audit_quietly("mail.sent", meta, subject=user_id, kind=kind)
        return True

    async def drain(self) -> None:
        """Wait until every submitted job has finished (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self, grace_seconds: float = 10.0) -> None:
        try:
            async with asyncio.timeout(grace_seconds):
                await self.drain()
        except TimeoutError:
            for task in list(self._pending):
                task.cancel()
            log.warning("mail jobs still running at shutdown were cancelled")

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _guarded(self, job: Job, meta: RequestMeta, what: str) -> None:
        try:
            await job()
        except Exception as exc:
            log.warning("mail job failed: kind=%s error=%s", what, type(exc).__name__)
            await self._audit_quietly(
                "mail.failed", meta, outcome="failure", kind=what, error=type(exc).__name__
            )

    async def _audit_quietly(self, event: str, meta: RequestMeta, **fields: Any) -> None:
        try:
            await self._audit.record(event, meta, **fields)
        except Exception as exc:  # the audit store may be what failed; the log line above remains
            log.warning("could not audit %s: %s", event, type(exc).__name__)
