"""Every route declares its access policy (SEC-55: default deny).

`@policy("public")`, `@policy("authenticated")` or `@policy("permission:users:manage")` marks the
endpoint function; a test walks the router and fails when an endpoint carries no mark, so a new
route cannot ship without someone deciding who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTRIBUTE = "__ostiary_policy__"


def policy(rule: str) -> Callable[[F], F]:
    if not (rule in ("public", "authenticated") or rule.startswith("permission:")):
        raise ValueError(f"unknown policy mark: {rule!r}")

    def mark(endpoint: F) -> F:
        setattr(endpoint, POLICY_ATTRIBUTE, rule)
        return endpoint

    return mark


def policy_of(endpoint: Callable[..., Any]) -> str | None:
    value = getattr(endpoint, POLICY_ATTRIBUTE, None)
    return value if isinstance(value, str) else None
