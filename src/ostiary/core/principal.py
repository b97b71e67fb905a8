"""The authenticated caller, whatever proved it (session cookie, bearer token, API key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["user", "client", "api_key"]
AuthMethod = Literal["session", "bearer", "api_key"]


@dataclass(frozen=True)
class Principal:
    subject: str  # stable id: user id, or client id for client_credentials
    kind: PrincipalKind
    method: AuthMethod
    username: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] | None = None  # None: not limited by a token's scope (session login)
    auth_time: float | None = None
    amr: tuple[str, ...] = ()
    session_digest: str | None = None
    client_id: str | None = None
