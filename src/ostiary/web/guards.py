"""Route guards: 401 when the caller is unknown, 403 when known but not allowed (audited, SEC-72)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden
from ostiary.web.deps import request_meta, require_auth, services_of, verify_csrf


def require_permission(permission: str) -> Callable[[Request], Awaitable[Authenticated]]:
    async def guard(request: Request) -> Authenticated:
        auth = await require_auth(request)
        if permission not in auth.principal.permissions:
            await services_of(request).auditor.record(
                "access.denied",
                request_meta(request),
                outcome="failure",
                actor=auth.user.id,
                permission=permission,
                path=request.url.path,
            )
            raise Forbidden()
        await verify_csrf(request, auth)
        return auth

    return guard
