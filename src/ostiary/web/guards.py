"""Route guards: 401 when the caller is unknown, 403 when known but not allowed (audited, SEC-72).

`require_permission(p)` is `web.authorization.require(p)` returning the `Authenticated` caller: the
decision is the policy engine's (RBAC, scopes, deny rules), so a permission check and an ABAC rule on
the same action can never disagree. New code uses `require` directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from ostiary.authn.principals import Authenticated
from ostiary.web.authorization import require
from ostiary.web.policy_marks import POLICY_ATTRIBUTE


def require_permission(permission: str) -> Callable[[Request], Awaitable[Authenticated]]:
    check = require(permission)

    async def guard(request: Request) -> Authenticated:
        return (await check(request)).auth

    setattr(guard, POLICY_ATTRIBUTE, f"require:{permission}")
    return guard
