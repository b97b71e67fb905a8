"""Admin API for accounts: read one, create, and set a user's roles and groups (`users:manage`).

Listing, disabling and ending sessions are in `admin_users`. A change of roles or groups bumps the
authorization version in its transaction: the user's next request already sees it (SEC-58).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ostiary.authn.accounts import new_user_id, validate_username
from ostiary.core.errors import NotFound, ValidationFailed
from ostiary.storage.interfaces.users import NewUser, UserAccess
from ostiary.web.authorization import Authorized, require
from ostiary.web.deps import services_of
from ostiary.web.routes.admin_common import audit_admin

router = APIRouter(prefix="/admin/users", tags=["admin: users"])
MANAGE = "users:manage"
CAN_MANAGE = Depends(require(MANAGE))
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$")]


class AccessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Name] = Field(default_factory=list, description="roles held directly")
    groups: list[Name] = Field(default_factory=list, description="groups the user is a member of")


class NewUserIn(AccessIn):
    username: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    email: Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    password: str = Field(repr=False, description="checked against the password policy")


class UserOut(BaseModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    mfa_enabled: bool
    disabled: bool
    roles: list[str]
    groups: list[str]
    permissions: list[str] = Field(description="effective permissions, after role and group expansion")


async def _user_out(request: Request, user_id: str) -> UserOut:
    services = services_of(request)
    user = await services.users.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    access = await services.access.access_of(user.id)
    permissions = await services.authz.effective_permissions(access.roles, access.groups)
    return UserOut(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified,
        mfa_enabled=user.mfa_enabled,
        disabled=user.disabled,
        roles=sorted(access.roles),
        groups=sorted(access.groups),
        permissions=sorted(permissions),
    )


async def _check_access(request: Request, body: AccessIn) -> UserAccess:
    snapshot = await services_of(request).rbac.snapshot()
    for i, role in enumerate(body.roles):
        if role not in snapshot.roles:
            raise ValidationFailed(f"roles[{i}]: unknown role {role!r}", field=f"roles[{i}]")
    for i, group in enumerate(body.groups):
        if group not in snapshot.groups:
            raise ValidationFailed(f"groups[{i}]: unknown group {group!r}", field=f"groups[{i}]")
    return UserAccess(frozenset(body.roles), frozenset(body.groups))


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: str, request: Request, _: Authorized = CAN_MANAGE) -> UserOut:
    return await _user_out(request, user_id)


@router.post("", response_model=UserOut, status_code=201)
async def create_user(body: NewUserIn, request: Request, authz: Authorized = CAN_MANAGE) -> UserOut:
    services = services_of(request)
    username = validate_username(body.username)
    access = await _check_access(request, body)
    services.policy.check(body.password, username=username, email=body.email)
    password_hash = await services.hashers.hash(body.password)
    user_id = new_user_id()
    await services.users.create(NewUser(user_id, username, body.email, password_hash, services.clock.now()))
    if access.roles or access.groups:
        await services.access.set_access(user_id, access)
    await audit_admin(
        request, authz, "admin.user_create", user_id, roles=sorted(access.roles), groups=sorted(access.groups)
    )
    return await _user_out(request, user_id)


@router.put("/{user_id}/access", response_model=UserOut)
async def set_access(
    user_id: str, body: AccessIn, request: Request, authz: Authorized = CAN_MANAGE
) -> UserOut:
    services = services_of(request)
    if await services.users.get(user_id) is None:
        raise NotFound("No such user.")
    access = await _check_access(request, body)
    before = await services.access.access_of(user_id)
    await services.access.set_access(user_id, access)
    await audit_admin(
        request,
        authz,
        "admin.access_change",
        user_id,
        roles_before=sorted(before.roles),
        roles=sorted(access.roles),
        groups_before=sorted(before.groups),
        groups=sorted(access.groups),
    )
    return await _user_out(request, user_id)
