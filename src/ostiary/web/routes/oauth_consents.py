"""A user's own OAuth consents (OIDC Core §3.1.2.4, SEC-41): list them, revoke one.

Revoking a consent also ends the client's refresh-token families for this user and their grants
(`OAuthWiring.revoke_consent`), so the client loses access, not just the remembered answer; its
next authorization request shows the consent page again. CSRF as for every session-authenticated
JSON route (`require_user_csrf`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from ostiary.authn.principals import Authenticated
from ostiary.core.errors import NotFound
from ostiary.web.deps import require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_authorize import oauth_of

router = APIRouter(prefix="/auth/consents", tags=["consents"])


@router.get("")
@policy("authenticated")
async def list_consents(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    wiring = oauth_of(request)
    body: list[dict[str, Any]] = []
    for consent in await wiring.consents.list_for_user(auth.user.id):
        client = await wiring.clients.get(consent.client_id)
        body.append(
            {
                "client_id": consent.client_id,
                "client_name": client.name if client is not None else None,
                "scopes": list(consent.scopes),
                "granted_at": consent.granted_at,
                "updated_at": consent.updated_at,
            }
        )
    return JSONResponse({"consents": body}, headers={"Cache-Control": "no-store"})


@router.delete("/{client_id}", status_code=204, response_model=None)
@policy("authenticated")
async def revoke_consent(
    client_id: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    # Scoped to the caller: only their own consent and families are touched (SEC-56).
    if not await oauth_of(request).revoke_consent(auth.user.id, client_id):
        raise NotFound("No consent for this client.")
    meta = request_meta(request)
    await services_of(request).auditor.record(
        "oauth.consent_revoked", meta, actor=auth.user.id, subject=auth.user.id, client_id=client_id
    )
    return Response(status_code=204)
