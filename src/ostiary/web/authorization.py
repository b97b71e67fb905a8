"""`require(action, resource=…)`: the FastAPI guard that asks the policy engine (issue 4).

    CAN_UPDATE_POST = Depends(require("posts:update", resource=load_post))

    @router.patch("/posts/{post_id}")
    async def update_post(post_id: int, authz: Authorized = CAN_UPDATE_POST): ...

The guard, in order:
1. 401 when the caller is unknown (with the RFC 6750 challenge for a refused bearer token).
2. Builds the ``Subject`` from the verified ``Principal`` only — session, bearer token or, later, API
   key produce the same Principal. Nothing comes from client-sent headers (``X-User-Id``, ``X-Roles``,
   ``X-Forwarded-User`` have no effect, SEC-59). A bearer or API-key principal carries scopes but not
   roles, so its user's current roles and groups are read through the version-keyed cache.
3. Loads the resource (its loader may answer 404) and the context: ``time`` (epoch seconds from the
   injectable clock), ``ip`` (the client address resolved from trusted proxies only), ``method``.
4. ``engine.decide``; a refusal is audited as ``access.denied`` with the reason (SEC-72) and answers
   403 — with ``WWW-Authenticate: Bearer error="insufficient_scope", scope="<action>"`` when a bearer
   token lacked the scope (RFC 6750 §3.1).
5. The CSRF check of unsafe, cookie-authenticated requests (SEC-13).

``listing=True`` is for collection endpoints whose items are filtered one by one (``/food``: "view
only your groups' food"): the guard then only requires the scope and the RBAC permission, and the
route keeps the items for which ``authz.allows(action, item)`` is true.

The guard carries its policy as a mark (``require:<action>``) that the SEC-55 route check reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ostiary.authn.mfa import is_multi_factor
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, InsufficientScope
from ostiary.policy import Decision, PolicyEngine, Resource, Subject, scope_covers
from ostiary.web.deps import require_auth, services_of, verify_csrf
from ostiary.web.meta import request_meta
from ostiary.web.middleware.request_id import request_id
from ostiary.web.policy_marks import POLICY_ATTRIBUTE

ResourceLoader = Callable[[Request], Awaitable[Resource | None]]
ContextLoader = Callable[[Request], Awaitable[Mapping[str, object]]]
REALM = "ostiary"


@dataclass(frozen=True)
class Authorized:
    """What a guarded route receives: the caller, the decision, and the means to decide per item."""

    auth: Authenticated
    subject: Subject
    decision: Decision
    resource: Resource | None
    engine: PolicyEngine
    context: Mapping[str, object]

    def allows(self, action: str, resource: Resource | None = None) -> bool:
        return self.engine.decide(self.subject, action, resource, self.context).allowed


class ScopeRequired(InsufficientScope):
    """403 ``insufficient_scope`` naming the scope the request needed (RFC 6750 §3.1)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()


async def scope_required_response(request: Request, exc: Exception) -> Response:
    """Exception handler for ``ScopeRequired`` (registered by web/app.py): bearer callers get the
    challenge with ``scope=``; others go to the global error handler (JSON 403)."""
    auth = getattr(request.state, "auth", None)
    if not isinstance(exc, ScopeRequired) or auth is None or auth.principal.method != "bearer":
        raise exc
    return JSONResponse(
        {"error": exc.code, "message": exc.message, "scope": exc.scope, "request_id": request_id(request)},
        status_code=403,
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="{REALM}", error="insufficient_scope", '
                f'error_description="{exc.message}", scope="{exc.scope}"'
            ),
            "Cache-Control": "no-store",
        },
    )


def _attributes(auth: Authenticated) -> dict[str, object]:
    """Safe, server-side facts about the caller for ``subject.<name>`` conditions."""
    p = auth.principal
    # `mfa`: this login verified a second factor (authn/mfa.is_multi_factor: amr like ["pwd", "otp"],
    # ["pwd", "hwk", "user"] or a passwordless ["hwk", "user"]); false for tokens and keys without amr.
    attrs: dict[str, object] = {"user_id": p.subject, "auth_method": p.method, "mfa": is_multi_factor(p.amr)}
    if p.username is not None:
        attrs["username"] = p.username
    if p.client_id is not None:
        attrs["client_id"] = p.client_id
    if p.auth_time is not None:
        attrs["auth_time"] = p.auth_time
    return attrs


async def subject_of(request: Request, auth: Authenticated) -> Subject:
    """The caller as the engine sees it; built once per request (cached on request.state)."""
    cached = getattr(request.state, "subject", None)
    if isinstance(cached, Subject):
        return cached
    p = auth.principal
    roles, groups = p.roles, p.groups
    if p.method != "session" and p.kind != "client":
        # A token or key names its user but not the user's roles: read them fresh (version-cached).
        access = await services_of(request).authz.access_of(p.subject)
        roles, groups = access.roles, access.groups
    subject = Subject.of(
        p.subject, kind=p.kind, roles=roles, groups=groups, scopes=p.scopes, attributes=_attributes(auth)
    )
    request.state.subject = subject
    return subject


def base_context(request: Request) -> dict[str, object]:
    meta = request_meta(request)
    context: dict[str, object] = {"time": services_of(request).clock.now(), "method": request.method}
    if meta.ip:
        context["ip"] = meta.ip
    return context


async def audit_denial(
    request: Request, auth: Authenticated, action: str, resource: Resource | None, decision: Decision
) -> None:
    p = auth.principal
    await services_of(request).auditor.record(
        "access.denied",
        request_meta(request),
        outcome="failure",
        actor=p.subject,
        subject=resource.ref if resource is not None else None,
        client_id=p.client_id,
        action=action,
        reason=decision.reason,
        decided_by=decision.decided_by,
        auth_method=p.method,
        method=request.method,
        path=request.url.path,
    )


def require(
    action: str,
    resource: ResourceLoader | None = None,
    context: ContextLoader | None = None,
    *,
    listing: bool = False,
) -> Callable[[Request], Awaitable[Authorized]]:
    """A dependency allowing the request only when the engine allows ``action`` (see module doc)."""
    if listing and resource is not None:
        raise ValueError("a listing guard decides per item: it takes no resource loader")

    async def guard(request: Request) -> Authorized:
        auth = await require_auth(request)
        subject = await subject_of(request, auth)
        target = await resource(request) if resource is not None else None
        ctx = base_context(request)
        if context is not None:
            ctx.update(await context(request))
        engine = await services_of(request).authz.engine()
        if listing:
            decision = _listing_decision(engine, subject, action)
        else:
            decision = engine.decide(subject, action, target, ctx)
        if not decision.allowed:
            await audit_denial(request, auth, action, target, decision)
            if decision.decided_by == "scope":
                raise ScopeRequired(action)
            raise Forbidden()
        await verify_csrf(request, auth)
        return Authorized(auth, subject, decision, target, engine, ctx)

    mark: Any = guard
    setattr(mark, POLICY_ATTRIBUTE, f"require:{action}")
    guard.__name__ = f"require_{action.replace(':', '_')}"
    return guard


def _listing_decision(engine: PolicyEngine, subject: Subject, action: str) -> Decision:
    if not scope_covers(subject.scopes, action):
        return Decision(False, "insufficient_scope", "scope")
    role = engine.grants(subject).granted_by.get(action)
    if role is None:
        return Decision(False, "default-deny", "default")
    return Decision(True, f"role:{role} grants {action} (per item)", "role")
