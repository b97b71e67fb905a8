"""Accounts: the durable user record and the narrow store protocols around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class UserRecord:
    id: str
    username: str
    email: str | None
    password_hash: str | None
    disabled: bool
    mfa_enabled: bool
    created_at: float
    updated_at: float
    password_changed_at: float | None = None
    email_verified: bool = False
    # Tokens of this user issued before this instant are refused (a bulk revocation: password
    # change, disable, lockout; compose/not_before.py). None: never revoked in bulk.
    tokens_not_before: float | None = None


@dataclass(frozen=True)
class NewUser:
    id: str
    username: str
    email: str | None
    password_hash: str | None
    created_at: float
    disabled: bool = False
    email_verified: bool = False


@dataclass(frozen=True)
class UserAccess:
    """What the user holds directly: role and group names (the policy engine expands them)."""

    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)


class UserStore(Protocol):
    async def get(self, user_id: str) -> UserRecord | None: ...

    async def find_by_login(self, login: str) -> UserRecord | None:
        """By username, or by email when `login` contains '@'; both case-insensitive."""
        ...

    async def create(self, user: NewUser) -> None:
        """Raise `Conflict` when the username or email is taken (unique constraint, race-safe)."""
        ...

    async def update(self, user_id: str, **changes: object) -> bool:
        """Change columns of one user (password_hash, disabled, email, tokens_not_before, …);
        False if unknown."""
        ...

    async def list(self, *, offset: int = 0, limit: int = 100) -> list[UserRecord]: ...


class UserAccessStore(Protocol):
    async def access_of(self, user_id: str) -> UserAccess: ...

    async def set_access(self, user_id: str, access: UserAccess) -> None: ...
