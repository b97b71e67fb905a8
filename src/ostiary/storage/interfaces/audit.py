"""The audit log (SEC-72): append-only records of security-relevant events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class AuditEvent:
    event: str
    at: float
    outcome: str = "success"
    actor: str | None = None  # who acted (user id, client id, "cli", "anonymous")
    subject: str | None = None  # whom it concerns (user id)
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    client_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog(Protocol):
    async def append(self, event: AuditEvent) -> None: ...

    async def query(
        self, *, event: str | None = None, subject: str | None = None, limit: int = 100
    ) -> list[AuditEvent]: ...
