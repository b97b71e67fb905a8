"""API keys over HTTP (docs/api_keys.md): a user's own keys, and an administrator's view of them.

    POST   /auth/api-keys                      {name, scopes, expires_in?, kind?} → 201, the key once
    GET    /auth/api-keys                      the caller's keys, without secrets
    POST   /auth/api-keys/{key_id}/rotate      {grace_seconds?} → 201, the new key once
    DELETE /auth/api-keys/{key_id}             → 204
    GET    /admin/users/{user_id}/api-keys             (users:manage)
    DELETE /admin/users/{user_id}/api-keys/{key_id}    (users:manage)

Creating, rotating and revoking take a browser session with a recent login and its CSRF token
(SEC-13, SEC-14); an API key is refused on every one of these routes, admin ones included (SEC-54).
Another user's key id answers 404 (SEC-56). Responses carrying a key are `no-store`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.responses import JSONResponse, Response

from ostiary.authn.api_keys import IssuedKey, key_json
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, NotFound
from ostiary.storage.interfaces.api_keys import ApiKeyRecord
from ostiary.web.authorization import Authorized, require
from ostiary.web.deps import require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy

router = APIRouter(tags=["api keys"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CAN_MANAGE_USERS = Depends(require("users:manage"))
Scope = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class NewKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=100, description="permissions the key may use")
    expires_in: int | None = Field(default=None, description="seconds; default OSTIARY_API_KEY_DEFAULT_TTL")
    kind: Literal["stateful", "stateless"] = "stateful"


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_seconds: int = Field(default=0, ge=0, description="how long the old key keeps working")


def _issued(request: Request, issued: IssuedKey) -> Response:
    body = {"key": issued.key, **key_json(issued.record, services_of(request).clock.now())}
    return JSONResponse(body, status_code=201, headers=NO_STORE)


def _listing(request: Request, records: list[ApiKeyRecord]) -> Response:
    now = services_of(request).clock.now()
    return JSONResponse(
        {"api_keys": [key_json(r, now) for r in records]}, headers={"Cache-Control": "no-store"}
    )


@router.post("/auth/api-keys")
@policy("authenticated")
async def create_api_key(
    body: NewKeyIn, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    issued = await services_of(request).api_keys.manager.create(
        auth.principal,
        name=body.name,
        scopes=body.scopes,
        kind=body.kind,
        expires_in=body.expires_in,
        meta=request_meta(request),
    )
    return _issued(request, issued)


@router.get("/auth/api-keys")
@policy("authenticated")
async def list_api_keys(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    manager = services_of(request).api_keys.manager
    manager.check_holder(auth.principal, change=False)
    return _listing(request, await manager.list_keys(auth.principal.subject))


@router.post("/auth/api-keys/{key_id}/rotate")
@policy("authenticated")
async def rotate_api_key(
    key_id: str,
    request: Request,
    body: RotateIn | None = None,
    auth: Authenticated = Depends(require_user_csrf),
) -> Response:
    issued = await services_of(request).api_keys.manager.rotate(
        auth.principal, key_id, grace=(body or RotateIn()).grace_seconds, meta=request_meta(request)
    )
    return _issued(request, issued)


@router.delete("/auth/api-keys/{key_id}", status_code=204, response_model=None)
@policy("authenticated")
async def revoke_api_key(
    key_id: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    await services_of(request).api_keys.manager.revoke(auth.principal, key_id, meta=request_meta(request))
    return Response(status_code=204)


def _no_api_key(authz: Authorized) -> None:
    if authz.auth.principal.method == "api_key":
        raise Forbidden("API keys do not manage API keys.", code="api_key_not_allowed")


@router.get("/admin/users/{user_id}/api-keys")
async def admin_list_api_keys(
    user_id: str, request: Request, authz: Authorized = CAN_MANAGE_USERS
) -> Response:
    _no_api_key(authz)
    services = services_of(request)
    if await services.users.get(user_id) is None:
        raise NotFound("No such user.")
    return _listing(request, await services.api_keys.manager.list_keys(user_id))


@router.delete("/admin/users/{user_id}/api-keys/{key_id}", status_code=204, response_model=None)
async def admin_revoke_api_key(
    user_id: str, key_id: str, request: Request, authz: Authorized = CAN_MANAGE_USERS
) -> Response:
    _no_api_key(authz)
    await services_of(request).api_keys.manager.admin_revoke(
        authz.auth.principal, user_id, key_id, meta=request_meta(request)
    )
    return Response(status_code=204)
