"""Who asks and about what: the inputs of a decision, built by the caller from a verified principal.

Nothing here is read from the request: the web layer builds a ``Subject`` from an authenticated session,
token or API key. Client-sent headers such as ``X-User-Id`` or ``X-Roles`` never reach it (SEC-59).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ostiary.policy.model import SubjectGrants

SubjectKind = Literal["user", "client", "api_key"]
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Subject:
    """The caller.

    ``roles`` and ``groups`` are the names held *directly*; the RBAC model expands them.
    ``scopes`` is ``None`` for a first-party session (no delegation) and the granted scopes for a
    token or API key: then every action must also be within them (``insufficient_scope``).
    ``attributes`` feed ABAC conditions as ``subject.<name>`` (e.g. ``department``).

    ``kind`` says whose identity this is: ``user`` (a session, or a token issued to a user),
    ``client`` (a client acting for itself, client credentials) or ``api_key`` (a key acting as its
    owning user: ``id`` is that user's id and ``scopes`` the key's scopes).
    """

    id: str
    kind: SubjectKind = "user"
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None
    attributes: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def of(
        cls,
        id: str,
        *,
        kind: SubjectKind = "user",
        roles: Iterable[str] = (),
        groups: Iterable[str] = (),
        scopes: Iterable[str] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> Subject:
        """Convenience constructor taking any iterables."""
        return cls(
            id,
            kind,
            frozenset(roles),
            frozenset(groups),
            None if scopes is None else frozenset(scopes),
            MappingProxyType(dict(attributes)) if attributes else _EMPTY,
        )

    @classmethod
    def from_grants(
        cls,
        grants: SubjectGrants,
        *,
        scopes: Iterable[str] | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> Subject:
        return cls.of(
            grants.user_id, roles=grants.roles, groups=grants.groups, scopes=scopes, attributes=attributes
        )

    @property
    def ref(self) -> str:
        """The subject as written in ACL tuples: ``user:42`` (also for an API key) or ``client:cli``."""
        return f"client:{self.id}" if self.kind == "client" else f"user:{self.id}"


@dataclass(frozen=True, slots=True)
class Resource:
    """What the action is on: ``posts:7`` is ``Resource("posts", "7", {"owner": "42"})``."""

    type: str
    id: str
    attributes: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def of(cls, type: str, id: str | int, **attributes: object) -> Resource:
        return cls(type, str(id), MappingProxyType(attributes) if attributes else _EMPTY)

    @property
    def ref(self) -> str:
        return f"{self.type}:{self.id}"
