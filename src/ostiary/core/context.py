"""Who is asking, from where: passed from the web edge into services for audit and limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestMeta:
    ip: str = ""
    user_agent: str = ""
    request_id: str | None = None


CLI = RequestMeta(ip="", user_agent="ostiary-cli", request_id=None)
