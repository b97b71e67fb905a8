"""Writes audit events with time from the clock and the request's origin (SEC-72)."""

from __future__ import annotations

import logging
from typing import Any

from ostiary.core.clock import Clock
from ostiary.core.context import RequestMeta
from ostiary.storage.interfaces.audit import AuditEvent, AuditLog

log = logging.getLogger("ostiary.audit")


class Auditor:
    def __init__(self, log_store: AuditLog, clock: Clock) -> None:
        self._store = log_store
        self._clock = clock

    async def record(
        self,
        event: str,
        meta: RequestMeta,
        *,
        outcome: str = "success",
        actor: str | None = None,
        subject: str | None = None,
        client_id: str | None = None,
        **details: Any,
    ) -> None:
        entry = AuditEvent(
            event=event,
            at=self._clock.now(),
            outcome=outcome,
            actor=actor,
            subject=subject,
            ip=meta.ip or None,
            user_agent=meta.user_agent or None,
            request_id=meta.request_id,
            client_id=client_id,
            details=details,
        )
        await self._store.append(entry)
        # Mirror to the log as one JSON-safe record; details never hold secrets.
        log.info(
            event, extra={"audit": {"event": event, "outcome": outcome, "actor": actor, "subject": subject}}
        )
