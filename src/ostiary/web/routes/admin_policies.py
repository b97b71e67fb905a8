"""Admin API for ABAC rules, ACL tuples, the ACL schema, and `explain` (guarded by `policies:manage`).

A rule is parsed with the engine's own parser before it is stored: a bad key answers 400 with its path
(`when.all[0].eq: …`). A tuple is checked against the stored ACL schema. Writes bump the authorization
version in their transaction (SEC-58) and are audited with their actor (SEC-72).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ostiary.compose.authorization import acl_from_snapshot
from ostiary.core.errors import NotFound, ValidationFailed
from ostiary.policy import AclTuple, PolicyError, Resource, Rule, Subject
from ostiary.storage.interfaces.policies import AclConfig, AclRow, PolicySnapshot, RuleRow
from ostiary.web.authorization import Authorized, require
from ostiary.web.deps import services_of
from ostiary.web.routes.admin_common import audit_admin

router = APIRouter(prefix="/admin", tags=["admin: policies"])
MANAGE = "policies:manage"
CAN_MANAGE = Depends(require(MANAGE))


class RuleIn(BaseModel):
    """A rule as in the realm file's `policies:` (the id comes from the path). Checked by the engine."""

    model_config = ConfigDict(extra="allow")  # unknown keys reach the engine's parser: 400 with the path
    effect: Any = Field(default=None, description="allow | deny")
    actions: Any = Field(default=None, description='action names or patterns: "posts:update", "posts:*", "*"')
    when: Any = Field(default=None, description="the condition (docs/authorization.md); none: unconditional")
    requires_permission: Any = Field(
        default=False, description="true: restricts the RBAC permission instead of granting by itself"
    )
    description: Any = ""


class RuleOut(BaseModel):
    id: str
    effect: str
    actions: list[str]
    when: Any = None
    requires_permission: bool
    description: str


class TupleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(description="user:<id> | group:<name> | client:<id>")
    relation: str
    resource: str = Field(description="<type>:<id>")


class AclConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relations: dict[str, dict[str, list[str]]] | None = Field(
        default=None,
        description="per resource type: relation -> implied relations; null: owner⇒editor⇒viewer",
    )
    actions: dict[str, str] = Field(default_factory=dict, description="action -> the relation it needs")


class Changed(BaseModel):
    changed: bool


class StepOut(BaseModel):
    check: str
    item: str
    outcome: str
    detail: str


class ExplainOut(BaseModel):
    allowed: bool
    reason: str
    decided_by: str
    subject: dict[str, Any]
    steps: list[StepOut]


def _rule_out(r: RuleRow) -> RuleOut:
    return RuleOut(
        id=r.id,
        effect=r.effect,
        actions=list(r.actions),
        when=r.condition,
        requires_permission=r.requires_permission,
        description=r.description,
    )


def _invalid(exc: PolicyError) -> ValidationFailed:
    return ValidationFailed(exc.message, field=exc.path, code="invalid_policy")


@router.get("/policies", response_model=list[RuleOut])
async def list_rules(request: Request, _: Authorized = CAN_MANAGE) -> list[RuleOut]:
    return [_rule_out(r) for r in (await services_of(request).policies.snapshot()).rules]


@router.put("/policies/{rule_id}", response_model=Changed)
async def put_rule(rule_id: str, body: RuleIn, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    data = {"id": rule_id, **body.model_dump(exclude_unset=False)}
    if data.get("when") is None:
        data.pop("when", None)
    try:
        rule = Rule.from_data(data, "")
    except PolicyError as exc:
        raise _invalid(exc) from None
    row = RuleRow(
        rule.id, rule.effect, rule.actions, data.get("when"), rule.requires_permission, rule.description
    )
    created = await services_of(request).policies.put_rule(row)
    await audit_admin(request, authz, "admin.policy_put", rule_id, created=created, rule=row.as_data())
    return Changed(changed=True)


@router.delete("/policies/{rule_id}", response_model=Changed)
async def delete_rule(rule_id: str, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    if not await services_of(request).policies.delete_rule(rule_id):
        raise NotFound("No such rule.")
    await audit_admin(request, authz, "admin.policy_delete", rule_id)
    return Changed(changed=True)


@router.get("/acl/tuples", response_model=list[TupleModel])
async def list_tuples(
    request: Request, resource: str | None = None, _: Authorized = CAN_MANAGE
) -> list[TupleModel]:
    rows = (await services_of(request).policies.snapshot()).tuples
    return [
        TupleModel(subject=r.subject, relation=r.relation, resource=r.resource)
        for r in rows
        if resource is None or r.resource == resource
    ]


def _check_tuple(snapshot: PolicySnapshot, body: TupleModel) -> None:
    try:
        acl_from_snapshot(
            PolicySnapshot([], [AclRow(body.subject, body.relation, body.resource)], snapshot.acl, 0)
        )
    except PolicyError as exc:
        raise ValidationFailed(exc.message.replace("acl.tuples[0]", "tuple"), field=exc.path) from None


@router.post("/acl/tuples", response_model=Changed)
async def add_tuple(body: TupleModel, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    store = services_of(request).policies
    _check_tuple(await store.snapshot(), body)
    added = await store.add_tuple(AclRow(body.subject, body.relation, body.resource))
    if added:
        await audit_admin(request, authz, "admin.acl_add", body.resource, tuple=str(_as_tuple(body)))
    return Changed(changed=added)


@router.post("/acl/tuples/delete", response_model=Changed)
async def delete_tuple(body: TupleModel, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    if not await services_of(request).policies.delete_tuple(
        AclRow(body.subject, body.relation, body.resource)
    ):
        raise NotFound("No such tuple.")
    await audit_admin(request, authz, "admin.acl_delete", body.resource, tuple=str(_as_tuple(body)))
    return Changed(changed=True)


def _as_tuple(body: TupleModel) -> AclTuple:
    return AclTuple(body.subject, body.relation, body.resource)


@router.get("/acl/config", response_model=AclConfigModel)
async def get_acl_config(request: Request, _: Authorized = CAN_MANAGE) -> AclConfigModel:
    config = (await services_of(request).policies.snapshot()).acl
    relations = None if config.relations is None else {k: dict(v) for k, v in config.relations.items()}
    return AclConfigModel(relations=relations, actions=dict(config.actions))


@router.put("/acl/config", response_model=Changed)
async def put_acl_config(body: AclConfigModel, request: Request, authz: Authorized = CAN_MANAGE) -> Changed:
    store = services_of(request).policies
    config = AclConfig(relations=body.relations, actions=body.actions)
    snapshot = await store.snapshot()
    try:  # the schema itself, and every stored tuple under it
        acl_from_snapshot(PolicySnapshot([], snapshot.tuples, config, 0))
    except PolicyError as exc:
        raise _invalid(exc) from None
    await store.set_acl_config(config)
    await audit_admin(request, authz, "admin.acl_config", None, actions=body.actions)
    return Changed(changed=True)


@router.get("/policy/explain", response_model=ExplainOut)
async def explain(
    request: Request,
    user: str = Query(description="user id or username"),
    action: str = Query(description="the action, e.g. posts:update"),
    resource_type: str | None = None,
    resource_id: str | None = None,
    resource_attributes: str | None = Query(None, description='JSON object, e.g. {"owner": "42"}'),
    _: Authorized = CAN_MANAGE,
) -> ExplainOut:
    """How the engine decides `action` for this user as if from a session (no scopes)."""
    services = services_of(request)
    record = await services.users.get(user) or await services.users.find_by_login(user)
    if record is None:
        raise NotFound("No such user.")
    access = await services.access.access_of(record.id)
    subject = Subject.of(
        record.id,
        roles=access.roles,
        groups=access.groups,
        attributes={
            "user_id": record.id,
            "username": record.username,
            "auth_method": "session",
            "mfa": False,
        },
    )
    resource = None
    if resource_type is not None or resource_id is not None:
        if not resource_type or not resource_id:
            raise ValidationFailed("give both resource_type and resource_id", field="resource_id")
        attrs: Any = {}
        if resource_attributes:
            try:
                attrs = json.loads(resource_attributes)
            except ValueError:
                attrs = None
            if not isinstance(attrs, dict):
                raise ValidationFailed("a JSON object", field="resource_attributes")
        resource = Resource.of(resource_type, resource_id, **attrs)
    context = {"time": services.clock.now()}
    result = (await services.authz.engine()).explain(subject, action, resource, context)
    d = result.decision
    return ExplainOut(
        allowed=d.allowed,
        reason=d.reason,
        decided_by=d.decided_by,
        subject={"id": subject.id, "roles": sorted(subject.roles), "groups": sorted(subject.groups)},
        steps=[StepOut(check=s.check, item=s.item, outcome=s.outcome, detail=s.detail) for s in result.steps],
    )
