"""JSON and HTML-form endpoints of first-party login: register, login, logout, password, me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ostiary.authn.lockout import Lockout
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, InvalidCredentials, NotAuthenticated, OstiaryError, RateLimited
from ostiary.storage.interfaces.users import UserRecord
from ostiary.tokens.bearer import BearerAuthenticated
from ostiary.web.bearer import BearerChallenge, bearer_me
from ostiary.web.csrf import check_origin
from ostiary.web.deps import cookies_of, optional_auth, require_auth, services_of, verify_csrf
from ostiary.web.json_response import JsonResponse
from ostiary.web.meta import request_meta
from ostiary.web.mfa_step import mfa_required
from ostiary.web.pages_render import render_login
from ostiary.web.payload import read_payload
from ostiary.web.policy_marks import policy
from ostiary.web.redirects import safe_next

router = APIRouter(prefix="/auth", tags=["auth"])

REGISTER_ACCEPTED = {
    "status": "accepted",
    "message": "If the username and email are available, the account has been created. You can now log in.",
}


def user_json(user: UserRecord, auth: Authenticated | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "mfa_enabled": user.mfa_enabled,
    }
    if auth is not None:
        principal = auth.principal
        body.update(
            roles=sorted(principal.roles),
            groups=sorted(principal.groups),
            permissions=sorted(principal.permissions),
            auth_method=principal.method,
            auth_time=principal.auth_time,
            amr=list(principal.amr),
        )
    return body


async def _check_pre_session_form(request: Request, token: str | None) -> None:
    """Login and registration forms: signed double-submit token (there is no session yet)."""
    cookie = request.cookies.get(cookies_of(request).csrf_name)
    if not request.app.state.pre_session_csrf.valid(token, cookie):
        raise Forbidden(
            "The form expired or was not sent by this site. Reload the page and try again.",
            code="csrf_failed",
        )


@router.post("/register", status_code=202)
@policy("public")
async def register(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    payload = await read_payload(request)
    if payload.is_form:
        await _check_pre_session_form(request, payload.get("csrf_token"))
    await services.limiter.hit(services.settings.rate_limit_register_per_ip, "register-ip", meta.ip)
    await services.accounts.register(
        payload.require("username"), payload.get("email") or None, payload.require("password"), meta
    )
    if payload.is_form:
        return RedirectResponse("/login?registered=1", status_code=303)
    return JSONResponse(REGISTER_ACCEPTED, status_code=202)


@router.post("/login")
@policy("public")
async def login(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    payload = await read_payload(request)
    username = payload.get("username") or ""
    next_url = safe_next(payload.get("next"))
    try:
        if payload.is_form:
            await _check_pre_session_form(request, payload.get("csrf_token"))
        await services.limiter.hit(settings.rate_limit_login_per_ip, "login-ip", meta.ip)
        await services.limiter.hit(
            settings.rate_limit_login_per_ip_user, "login-ip-user", meta.ip, Lockout.key_for(username)
        )
        user = await services.login.authenticate(username, payload.get("password") or "", meta)
    except (InvalidCredentials, RateLimited) as exc:
        if not payload.is_form:
            raise
        return render_login(
            request,
            error=exc.message,
            next_url=next_url,
            username=username,
            status=exc.status,
            retry_after=getattr(exc, "retry_after", None),
        )
    except OstiaryError as exc:
        if not payload.is_form or isinstance(exc, Forbidden):
            raise
        return render_login(
            request, error=exc.message, next_url=next_url, username=username, status=exc.status
        )
    if services.email.login_notices is not None:  # mail on a new device or network (docs/email.md)
        services.email.login_notices.login_seen(user, meta, method="password")
    if user.mfa_enabled:  # no session before the second factor (SEC-49, docs/mfa.md)
        return await mfa_required(request, user, purpose="session", next_url=next_url, form=payload.is_form)
    # A fresh session id on every login (SEC-08): any session cookie sent with this request is dropped.
    previous = await optional_auth(request)
    if previous is not None and previous.session is not None:
        await services.sessions.revoke(previous.session.digest)
    new = await services.sessions.create(user.id, meta)
    response: Response
    if payload.is_form:
        response = RedirectResponse(next_url, status_code=303)
    else:
        found = await services.principals.for_session(new.record, user)
        response = JSONResponse({"user": user_json(user, found), "csrf_token": new.csrf_token})
    cookies = cookies_of(request)
    cookies.set_session(response, new.session_id)
    cookies.set_csrf(response, new.csrf_token)
    return response


@router.post("/logout")
@policy("public")
async def logout(request: Request) -> Response:
    services = services_of(request)
    auth = await optional_auth(request)
    payload = await read_payload(request) if request.headers.get("content-type") else None
    await verify_csrf(request, auth, payload.get("csrf_token") if payload else None)
    if auth is not None and auth.session is not None:
        await services.sessions.revoke(auth.session.digest)
        await services.auditor.record(
            "logout", request_meta(request), actor=auth.user.id, subject=auth.user.id
        )
    response: Response = (
        RedirectResponse("/login?logged_out=1", status_code=303)
        if payload is not None and payload.is_form
        else Response(status_code=204)
    )
    cookies_of(request).clear(response)
    return response


async def _stored_user(request: Request, auth: Authenticated) -> UserRecord:
    """The caller's account as stored, password hash included: `auth.user` is a cached record without
    the hash (session) or a stub built from the token's claims (bearer)."""
    if auth.principal.kind != "user":
        raise Forbidden("Only a user can change their password.", code="not_a_user")
    user = await services_of(request).users.get(auth.user.id)
    if user is None or user.disabled:
        if isinstance(auth, BearerAuthenticated):
            raise BearerChallenge("user_disabled")
        raise NotAuthenticated()
    return user


@router.post("/password")
@policy("authenticated")
async def change_password(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    services = services_of(request)
    payload = await read_payload(request)
    await verify_csrf(request, auth, payload.get("csrf_token"))
    rotated = await services.accounts.change_password(
        await _stored_user(request, auth),
        payload.require("current_password"),
        payload.require("new_password"),
        auth.session,
        request_meta(request),
    )
    response: Response = (
        RedirectResponse("/?password_changed=1", status_code=303)
        if payload.is_form
        else JSONResponse(
            {"status": "password_changed", "csrf_token": rotated.csrf_token if rotated else None}
        )
    )
    if rotated is not None:
        cookies_of(request).set_session(response, rotated.session_id)
        cookies_of(request).set_csrf(response, rotated.csrf_token)
    return response


@router.get("/me")
@policy("authenticated")
async def me(request: Request) -> Response:
    """The caller, from a session cookie or a bearer token; 401 otherwise (`require_auth`).

    The hottest authenticated route (an SPA asks on every page load, an API client to check its
    token), so it skips two generic FastAPI costs, measured against /healthz in-process:
    `require_auth` is awaited here rather than declared as `Depends` (FastAPI's dependency solving
    added ~12 µs, a sixth of a whole /healthz request), and the answer is a ready `JsonResponse` of
    plain JSON types (validating against a `dict` return annotation plus `jsonable_encoder` took
    ~18 µs), rendered by orjson (web/json_response.py). Every other route keeps the `Depends` form."""
    auth = await require_auth(request)
    if isinstance(auth, BearerAuthenticated):
        return JsonResponse(bearer_me(auth))  # from the token's claims: no database read
    return JsonResponse(user_json(auth.user, auth))
