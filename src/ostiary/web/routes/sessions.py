"""A user's own browser sessions: list, revoke one, revoke all others (SEC-14, SEC-56)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from ostiary.authn.principals import Authenticated
from ostiary.core.errors import NotFound
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.web.deps import require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.payload import is_form
from ostiary.web.policy_marks import policy

router = APIRouter(prefix="/auth/sessions", tags=["sessions"])
HANDLE_LENGTH = 32


def handle_of(record: SessionRecord) -> str:
    """A public handle: a prefix of the digest, which itself reveals nothing of the session id."""
    return record.digest[:HANDLE_LENGTH]


def session_json(record: SessionRecord, current: SessionRecord | None) -> dict[str, Any]:
    return {
        "id": handle_of(record),
        "created_at": record.created_at,
        "last_seen_at": record.last_seen_at,
        "expires_at": record.expires_at,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "current": current is not None and record.digest == current.digest,
    }


@router.get("")
@policy("authenticated")
async def list_sessions(request: Request, auth: Authenticated = Depends(require_auth)) -> dict[str, Any]:
    records = await services_of(request).sessions.list_user(auth.user.id)
    return {"sessions": [session_json(r, auth.session) for r in records]}


@router.post("/{handle}/revoke", status_code=204, response_model=None)
@policy("authenticated")
async def revoke_session(
    handle: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    services = services_of(request)
    # Only the caller's own sessions are searched: another user's handle is simply not found.
    for record in await services.sessions.list_user(auth.user.id):
        if handle_of(record) == handle:
            await services.sessions.revoke(record.digest)
            await services.auditor.record(
                "session.revoke", request_meta(request), actor=auth.user.id, subject=auth.user.id
            )
            return RedirectResponse("/", status_code=303) if is_form(request) else Response(status_code=204)
    raise NotFound("No such session.")


@router.post("/revoke-others")
@policy("authenticated")
async def revoke_other_sessions(
    request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> dict[str, int]:
    services = services_of(request)
    keep = auth.session.digest if auth.session else None
    count = await services.sessions.revoke_user(auth.user.id, keep=keep)
    await services.auditor.record(
        "session.revoke_others", request_meta(request), actor=auth.user.id, subject=auth.user.id, count=count
    )
    return {"revoked": count}
