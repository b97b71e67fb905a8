"""Shared pieces of the admin API: audit of every write with its actor, RBAC change validation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request

from ostiary.compose.authorization import model_from_snapshot
from ostiary.core.errors import ValidationFailed
from ostiary.policy import PolicyError
from ostiary.storage.interfaces.rbac import GroupRow, RbacSnapshot, RoleRow
from ostiary.storage.interfaces.realm import RealmPlan
from ostiary.web.authorization import Authorized
from ostiary.web.deps import services_of
from ostiary.web.meta import request_meta


async def audit_admin(
    request: Request, authz: Authorized, event: str, subject: str | None = None, **details: Any
) -> None:
    """Every admin write is recorded with its actor (SEC-72)."""
    p = authz.auth.principal
    await services_of(request).auditor.record(
        event, request_meta(request), actor=p.subject, subject=subject, client_id=p.client_id, **details
    )


def check_rbac(
    snapshot: RbacSnapshot,
    *,
    permission: tuple[str, str] | None = None,
    role: RoleRow | None = None,
    group: GroupRow | None = None,
) -> None:
    """Build the model as it would be after the change: unknown references and cycles → 400."""
    permissions = dict(snapshot.permissions)
    roles = dict(snapshot.roles)
    groups = dict(snapshot.groups)
    if permission is not None:
        permissions[permission[0]] = permission[1]
    if role is not None:
        roles[role.name] = role
    if group is not None:
        groups[group.name] = group
    try:
        model_from_snapshot(replace(snapshot, permissions=permissions, roles=roles, groups=groups))
    except PolicyError as exc:
        raise ValidationFailed(exc.message, field=exc.path, code="invalid_policy") from None


def _no_new_users() -> str:
    raise AssertionError("an RBAC plan creates no users")


async def apply_plan(request: Request, plan: RealmPlan) -> bool:
    """Upsert through the realm writer (one transaction, version bumped); True if anything changed."""
    services = services_of(request)
    changes = await services.realm_writer.apply(plan, now=services.clock.now(), new_user_id=_no_new_users)
    return changes.changed
