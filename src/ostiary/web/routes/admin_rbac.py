"""Admin API for permissions, roles and groups (guarded by `roles:manage`).

Writes are checked by building the RBAC model as it would be after the change — unknown references and
cycles answer 400 naming the key — then applied in one transaction that bumps the authorization version,
so every session sees the change on its next request (SEC-58). Every write is audited with its actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ostiary.core.errors import NotFound
from ostiary.storage.interfaces.rbac import GroupRow, RoleRow
from ostiary.storage.interfaces.realm import RealmPlan
from ostiary.web.authorization import Authorized, require
from ostiary.web.deps import services_of
from ostiary.web.routes.admin_common import apply_plan, audit_admin, check_rbac

router = APIRouter(prefix="/admin", tags=["admin: roles"])
MANAGE = "roles:manage"
CAN_MANAGE = Depends(require(MANAGE))
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PermissionOut(Strict):
    name: str
    description: str = ""


class PermissionIn(Strict):
    description: str = ""


class RoleIn(Strict):
    description: str = ""
    permissions: list[Name] = Field(default_factory=list)
    includes: list[Name] = Field(default_factory=list, description="composite role: roles this one includes")


class RoleOut(RoleIn):
    name: str


class GroupIn(Strict):
    description: str = ""
    roles: list[Name] = Field(default_factory=list)
    parent: Name | None = None


class GroupOut(GroupIn):
    name: str


class Changed(Strict):
    changed: bool


def _role_out(r: RoleRow) -> RoleOut:
    return RoleOut(
        name=r.name, description=r.description, permissions=sorted(r.permissions), includes=sorted(r.includes)
    )


def _group_out(g: GroupRow) -> GroupOut:
    return GroupOut(name=g.name, description=g.description, roles=sorted(g.roles), parent=g.parent)


@router.get("/permissions", response_model=list[PermissionOut])
async def list_permissions(request: Request, _: Authorized = CAN_MANAGE) -> list[PermissionOut]:
    snapshot = await services_of(request).rbac.snapshot()
    return [PermissionOut(name=n, description=d) for n, d in sorted(snapshot.permissions.items())]


@router.put("/permissions/{name}", response_model=Changed)
async def put_permission(
    name: Name, body: PermissionIn, request: Request, authz: Authorized = CAN_MANAGE
) -> Changed:
    check_rbac(await services_of(request).rbac.snapshot(), permission=(name, body.description))
    changed = await apply_plan(request, RealmPlan(permissions={name: body.description}))
    await audit_admin(request, authz, "admin.permission_put", name, changed=changed)
    return Changed(changed=changed)


@router.get("/roles", response_model=list[RoleOut])
async def list_roles(request: Request, _: Authorized = CAN_MANAGE) -> list[RoleOut]:
    snapshot = await services_of(request).rbac.snapshot()
    return [_role_out(r) for _, r in sorted(snapshot.roles.items())]


@router.get("/roles/{name}", response_model=RoleOut)
async def get_role(name: str, request: Request, _: Authorized = CAN_MANAGE) -> RoleOut:
    role = (await services_of(request).rbac.snapshot()).roles.get(name)
    if role is None:
        raise NotFound("No such role.")
    return _role_out(role)


@router.put("/roles/{name}", response_model=Changed)
async def put_role(name: Name, body: RoleIn, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    row = RoleRow(name, body.description, frozenset(body.permissions), frozenset(body.includes))
    check_rbac(await services_of(request).rbac.snapshot(), role=row)
    changed = await apply_plan(request, RealmPlan(roles=[row]))
    await audit_admin(
        request,
        authz,
        "admin.role_put",
        name,
        permissions=sorted(row.permissions),
        includes=sorted(row.includes),
    )
    return Changed(changed=changed)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(request: Request, _: Authorized = CAN_MANAGE) -> list[GroupOut]:
    snapshot = await services_of(request).rbac.snapshot()
    return [_group_out(g) for _, g in sorted(snapshot.groups.items())]


@router.put("/groups/{name}", response_model=Changed)
async def put_group(name: Name, body: GroupIn, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    row = GroupRow(name, body.description, frozenset(body.roles), body.parent)
    check_rbac(await services_of(request).rbac.snapshot(), group=row)
    changed = await apply_plan(request, RealmPlan(groups=[row]))
    await audit_admin(request, authz, "admin.group_put", name, roles=sorted(row.roles), parent=row.parent)
    return Changed(changed=changed)


async def _delete(request: Request, authz: Authorized, kind: str, name: str) -> Changed:
    if not await services_of(request).policies.delete_entry(kind, name):
        raise NotFound(f"No such {kind}.")
    await audit_admin(request, authz, f"admin.{kind}_delete", name)
    return Changed(changed=True)


@router.delete("/permissions/{name}", response_model=Changed)
async def delete_permission(name: str, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    return await _delete(request, authz, "permission", name)


@router.delete("/roles/{name}", response_model=Changed)
async def delete_role(name: str, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    return await _delete(request, authz, "role", name)


@router.delete("/groups/{name}", response_model=Changed)
async def delete_group(name: str, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    return await _delete(request, authz, "group", name)
