"""SQL audit log (SEC-72)."""

from __future__ import annotations

from sqlalchemy import insert, select

from ostiary.storage.interfaces.audit import AuditEvent
from ostiary.storage.sqlalchemy import tables as t
from ostiary.storage.sqlalchemy.database import Database

_INSERT = insert(t.audit_events)


class SqlAuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, event: AuditEvent) -> None:
        # One statement built once, its values as parameters: `insert(...).values(...)` built per
        # event cost more than the insert (logins, refreshes and token calls each write one).
        values = {
            "at": event.at,
            "event": event.event,
            "outcome": event.outcome,
            "actor": event.actor,
            "subject": event.subject,
            "ip": event.ip,
            "user_agent": (event.user_agent or "")[:256] or None,
            "request_id": event.request_id,
            "client_id": event.client_id,
            "details": event.details,
        }
        async with self._db.write() as conn:
            await conn.execute(_INSERT, values)

    async def query(
        self, *, event: str | None = None, subject: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        query = select(t.audit_events).order_by(t.audit_events.c.id.desc()).limit(limit)
        if event is not None:
            query = query.where(t.audit_events.c.event == event)
        if subject is not None:
            query = query.where(t.audit_events.c.subject == subject)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            AuditEvent(
                event=r["event"],
                at=r["at"],
                outcome=r["outcome"],
                actor=r["actor"],
                subject=r["subject"],
                ip=r["ip"],
                user_agent=r["user_agent"],
                request_id=r["request_id"],
                client_id=r["client_id"],
                details=dict(r["details"] or {}),
            )
            for r in rows
        ]
