"""Attribute paths (``subject.department``, ``resource.owner``, ``context.ip``) compiled to getters.

A path is resolved by mapping look-ups only — never ``getattr`` on arbitrary objects — so policy data
cannot reach Python internals. A missing or null attribute raises ``MissingAttribute``; the engine
turns any exception during a condition into "error", which denies (SEC-59).

Roots:
- ``subject``: ``id``, ``kind``, ``roles`` and ``groups`` (effective, after RBAC expansion), ``scopes``
  (missing for a session without scopes), else ``subject.attributes[...]``.
- ``resource``: ``type``, ``id``, else ``resource.attributes[...]``; missing when there is no resource.
- ``action``: the action string itself (bare ``action`` only).
- ``context``: the caller-supplied context mapping (``context.time``, ``context.ip``, …).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ostiary.policy.errors import PolicyError
from ostiary.policy.model import EffectiveGrants
from ostiary.policy.subject import Resource, Subject

ROOTS = frozenset({"subject", "resource", "action", "context"})
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class MissingAttribute(LookupError):
    """Raised at evaluation when a path resolves to nothing (or to null)."""


class Env:
    """Everything a condition may read for one decision."""

    __slots__ = ("action", "context", "grants", "resource", "subject")

    def __init__(
        self,
        subject: Subject,
        grants: EffectiveGrants,
        action: str,
        resource: Resource | None,
        context: Mapping[str, object] | None,
    ) -> None:
        self.subject = subject
        self.grants = grants
        self.action = action
        self.resource = resource
        self.context = context


Getter = Callable[[Env], Any]


def is_path(text: str) -> bool:
    """Strings naming a root (``subject.x``, bare ``action``) are paths; all others are literals."""
    if text == "action":
        return True
    root, dot, _ = text.partition(".")
    return bool(dot) and root in ROOTS


def _walk(value: object, rest: tuple[str, ...], text: str) -> Any:
    for seg in rest:
        if not isinstance(value, Mapping) or seg not in value:
            raise MissingAttribute(text)
        value = value[seg]
    if value is None:
        raise MissingAttribute(text)
    return value


def _from_mapping(
    pick: Callable[[Env], Mapping[str, object] | None], rest: tuple[str, ...], text: str
) -> Getter:
    head, tail = rest[0], rest[1:]

    def get(env: Env) -> Any:
        mapping = pick(env)
        if mapping is None or head not in mapping:
            raise MissingAttribute(text)
        return _walk(mapping[head], tail, text)

    return get


def _resource_type(env: Env) -> Any:
    if env.resource is None:
        raise MissingAttribute("resource.type")
    return env.resource.type


def _resource_id(env: Env) -> Any:
    if env.resource is None:
        raise MissingAttribute("resource.id")
    return env.resource.id


def _scopes(env: Env) -> Any:
    if env.subject.scopes is None:
        raise MissingAttribute("subject.scopes")
    return env.subject.scopes


_SUBJECT_FIELDS: dict[str, Getter] = {
    "id": lambda env: env.subject.id,
    "kind": lambda env: env.subject.kind,
    "roles": lambda env: env.grants.roles,
    "groups": lambda env: env.grants.groups,
    "scopes": _scopes,
}


def compile_path(text: str, path: str) -> Getter:
    """Compile a path string (already known to satisfy ``is_path``) into a getter."""
    root, *segs = text.split(".")
    for seg in segs:
        if not _SEGMENT.match(seg):
            raise PolicyError(f"invalid attribute path {text!r}", path=path)
    rest = tuple(segs)
    if root == "action":
        if rest:
            raise PolicyError(f"'action' has no attributes: {text!r}", path=path)
        return lambda env: env.action
    if root == "subject":
        if len(rest) == 1 and rest[0] in _SUBJECT_FIELDS:
            return _SUBJECT_FIELDS[rest[0]]
        if rest[0] in _SUBJECT_FIELDS:
            raise PolicyError(f"subject.{rest[0]} has no attributes: {text!r}", path=path)
        return _from_mapping(lambda env: env.subject.attributes, rest, text)
    if root == "resource":
        if rest[0] in ("type", "id"):
            if len(rest) > 1:
                raise PolicyError(f"resource.{rest[0]} has no attributes: {text!r}", path=path)
            return _resource_type if rest[0] == "type" else _resource_id
        return _from_mapping(
            lambda env: None if env.resource is None else env.resource.attributes, rest, text
        )
    return _from_mapping(lambda env: env.context, rest, text)
