"""Administrative actions on accounts (guarded by the `users:manage` permission)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ostiary.authn.principals import Authenticated
from ostiary.web.deps import services_of
from ostiary.web.guards import require_permission
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy
from ostiary.web.routes.auth import user_json

router = APIRouter(prefix="/admin/users", tags=["admin"])
MANAGE = "users:manage"
CAN_MANAGE = Depends(require_permission(MANAGE))


@router.get("")
@policy(f"permission:{MANAGE}")
async def list_users(
    request: Request,
    offset: int = 0,
    limit: int = 100,
    _: Authenticated = CAN_MANAGE,
) -> dict[str, Any]:
    users = await services_of(request).users.list(offset=max(0, offset), limit=min(max(1, limit), 500))
    return {"users": [{**user_json(u), "disabled": u.disabled} for u in users]}


@router.post("/{user_id}/sessions/revoke")
@policy(f"permission:{MANAGE}")
async def revoke_user_sessions(
    user_id: str, request: Request, auth: Authenticated = CAN_MANAGE
) -> dict[str, int]:
    """Sign a user out everywhere: browser sessions, and their tokens (docs/account.md)."""
    services = services_of(request)
    sessions, families = await services.accounts.sign_out_everywhere(user_id)
    await services.auditor.record(
        "admin.sessions_revoke",
        request_meta(request),
        actor=auth.user.id,
        subject=user_id,
        count=sessions,
        token_families=families,
    )
    return {"revoked": sessions, "token_families": families}


@router.post("/{user_id}/disable")
@policy(f"permission:{MANAGE}")
async def disable_user(user_id: str, request: Request, auth: Authenticated = CAN_MANAGE) -> dict[str, str]:
    await services_of(request).accounts.set_disabled(user_id, True, auth.user.id, request_meta(request))
    return {"status": "disabled"}


@router.post("/{user_id}/enable")
@policy(f"permission:{MANAGE}")
async def enable_user(user_id: str, request: Request, auth: Authenticated = CAN_MANAGE) -> dict[str, str]:
    await services_of(request).accounts.set_disabled(user_id, False, auth.user.id, request_meta(request))
    return {"status": "enabled"}
