"""Second factors over HTTP (docs/mfa.md): the MFA step of the browser login, and a user's own TOTP
and recovery codes (SEC-14, SEC-47..50).

`POST /auth/login/mfa` is the only place a login challenge is read: it takes `mfa_token` and either
`code` or `recovery_code` (JSON, or the MFA page's form with its signed pre-session CSRF token) and
only then creates the session, with `amr` naming both factors. The account endpoints act on the
caller alone, need the session's CSRF token and, for every change, a recent authentication.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ostiary.authn.mfa_login import MfaChallengeInvalid, MfaCompleted
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, NotFound, OstiaryError
from ostiary.web.csrf import check_origin
from ostiary.web.deps import cookies_of, optional_auth, require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.mfa_step import MFA_PATH, NO_STORE, render_mfa_page
from ostiary.web.pages_render import render_login
from ostiary.web.payload import Payload, read_payload
from ostiary.web.policy_marks import policy
from ostiary.web.redirects import safe_next
from ostiary.web.routes.auth import _check_pre_session_form, user_json

router = APIRouter(tags=["mfa"])


@router.post(MFA_PATH)
@policy("public")
async def login_second_step(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    payload = await read_payload(request)
    token = payload.get("mfa_token") or ""
    next_url = safe_next(payload.get("next"))
    try:
        if payload.is_form:
            await _check_pre_session_form(request, payload.get("csrf_token"))
        await services.limiter.hit(services.settings.rate_limit_mfa_per_ip, "mfa-ip", meta.ip)
        done = await services.mfa.login.complete(
            token,
            meta,
            purpose="session",
            code=payload.get("code") or None,
            recovery_code=payload.get("recovery_code") or None,
        )
    except MfaChallengeInvalid as exc:
        if not payload.is_form:
            raise
        return render_login(request, error=exc.message, next_url=next_url, status=exc.status)
    except OstiaryError as exc:
        if not payload.is_form or isinstance(exc, Forbidden):
            raise
        return render_mfa_page(
            request,
            mfa_token=token,
            next_url=next_url,
            error=exc.message,
            status=exc.status,
            retry_after=getattr(exc, "retry_after", None),
        )
    return await _start_session(request, done, payload, next_url)


async def _start_session(request: Request, done: MfaCompleted, payload: Payload, next_url: str) -> Response:
    services = services_of(request)
    # As at /auth/login: a fresh session id (SEC-08); a session cookie sent along is ended.
    previous = await optional_auth(request)
    if previous is not None and previous.session is not None:
        await services.sessions.revoke(previous.session.digest)
    new = await services.sessions.create(done.user.id, request_meta(request), amr=done.amr)
    response: Response
    if payload.is_form:
        response = RedirectResponse(next_url, status_code=303)
    else:
        found = await services.principals.for_session(new.record, done.user)
        response = JSONResponse({"user": user_json(done.user, found), "csrf_token": new.csrf_token})
    cookies = cookies_of(request)
    cookies.set_session(response, new.session_id)
    cookies.set_csrf(response, new.csrf_token)
    return response


@router.get("/auth/mfa")
@policy("authenticated")
async def mfa_status(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    status = await services_of(request).mfa.manage.status(auth.user)
    return JSONResponse(status.body(), headers={"Cache-Control": "no-store"})


@router.post("/auth/mfa/totp")
@policy("authenticated")
async def start_totp(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> Response:
    """Step 1 of enrollment: a new secret, shown once (manual key, otpauth URI, QR code as SVG)."""
    enrollment = await services_of(request).mfa.manage.start_totp(
        auth.user, auth.principal, request_meta(request)
    )
    body = {
        "secret": enrollment.secret,
        "otpauth_uri": enrollment.uri,
        "qr_svg": enrollment.qr_svg,
        "expires_at": enrollment.expires_at,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post("/auth/mfa/totp/confirm")
@policy("authenticated")
async def confirm_totp(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> Response:
    """Step 2: a correct code from the app turns TOTP on; the ten recovery codes are shown once."""
    services = services_of(request)
    payload = await read_payload(request)
    codes = await services.mfa.manage.confirm_totp(auth.user, payload.require("code"), request_meta(request))
    # Sessions that logged in without the new factor end, as after a password change (SEC-04).
    await services.sessions.revoke_user(auth.user.id, keep=auth.session.digest if auth.session else None)
    return JSONResponse({"status": "enabled", "recovery_codes": codes}, headers=NO_STORE)


@router.post("/auth/mfa/totp/disable")
@policy("authenticated")
async def disable_totp(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> Response:
    removed = await services_of(request).mfa.manage.disable_totp(
        auth.user, auth.principal, request_meta(request)
    )
    if not removed:
        raise NotFound("No authenticator app is set up.")
    return JSONResponse({"status": "disabled"}, headers=NO_STORE)


@router.post("/auth/mfa/recovery-codes")
@policy("authenticated")
async def regenerate_recovery_codes(
    request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    codes = await services_of(request).mfa.manage.regenerate_recovery_codes(
        auth.user, auth.principal, request_meta(request)
    )
    return JSONResponse({"recovery_codes": codes}, headers=NO_STORE)
