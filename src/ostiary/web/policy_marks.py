"""Every route declares its access policy (SEC-55: default deny).

`@policy("public")`, `@policy("authenticated")`, `@policy("page")` (authenticated, but a stranger is
sent to the login page and brought back instead of getting a 401) or
`@policy("permission:users:manage")` marks the
endpoint function; a guard from `web.authorization.require(action)` marks itself `require:<action>`.
`route_policy(route)` finds either; a test walks the router and fails when an endpoint carries no
mark, so a new route cannot ship without someone deciding who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTRIBUTE = "__ostiary_policy__"


def policy(rule: str) -> Callable[[F], F]:
    if not (rule in ("public", "authenticated", "page") or rule.startswith("permission:")):
        raise ValueError(f"unknown policy mark: {rule!r}")

    def mark(endpoint: F) -> F:
        setattr(endpoint, POLICY_ATTRIBUTE, rule)
        return endpoint

    return mark


def policy_of(endpoint: Callable[..., Any]) -> str | None:
    value = getattr(endpoint, POLICY_ATTRIBUTE, None)
    return value if isinstance(value, str) else None


# FastAPI's own documentation routes, present only when OSTIARY_DOCS_PUBLIC is set.
FRAMEWORK_ROUTES = {
    "openapi": "public",
    "swagger_ui_html": "public",
    "swagger_ui_redirect": "public",
    "redoc_html": "public",
}


def endpoint_routes(routes: Any) -> list[Any]:
    """Every endpoint route of an app or router, through included routers (FastAPI ≥ 0.16x includes
    routers lazily, so ``app.routes`` alone does not list them). Mounts (``/static``) are not endpoints."""
    from fastapi.routing import iter_route_contexts

    return [r for r in iter_route_contexts(routes) if getattr(r, "endpoint", None) is not None]


def route_policy(route: Any) -> str | None:
    """The policy of an endpoint route: its endpoint's mark, else a guard dependency's mark."""
    framework = FRAMEWORK_ROUTES.get(getattr(route, "name", None) or "")
    if framework is not None and getattr(route, "dependant", None) is None:
        return framework
    found = policy_of(route.endpoint)
    if found is not None:
        return found
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dependant = pending.pop(0)
        call = getattr(dependant, "call", None)
        mark = policy_of(call) if call is not None else None
        if mark is not None:
            return mark
        pending.extend(getattr(dependant, "dependencies", ()))
    return None
