"""The email flows over HTTP (docs/email.md): password reset, magic-link login, address verification.

`POST /auth/password-reset` and `POST /auth/magic-link` answer with the same status and bytes for
every well-formed address (SEC-06, SEC-64): the look-up and the mail happen in the background after
the answer is fixed. Both are rate-limited per IP and per address (SEC-62) and audited when they
throttle. Each endpoint takes JSON, or its page's form with the signed pre-session CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ostiary.authn.email_links import LinkInvalid, requested_address
from ostiary.authn.magic_link import AMR
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, OstiaryError, RateLimited
from ostiary.core.secrets import random_token
from ostiary.web.csrf import check_origin
from ostiary.web.deps import cookies_of, optional_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.mfa_step import NO_STORE, render_mfa_page
from ostiary.web.pages_render import render
from ostiary.web.payload import Payload, read_payload
from ostiary.web.policy_marks import policy
from ostiary.web.routes.auth import _check_pre_session_form, user_json
from ostiary.web.routes.email_pages import (
    link_cookie_name,
    render_link_error,
    render_request_form,
    render_reset_form,
)

router = APIRouter(prefix="/auth", tags=["email"])
magic_router = APIRouter(prefix="/auth", tags=["email"])


async def _form_checked(request: Request) -> Payload:
    check_origin(request, request.app.state.allowed_origins)
    payload = await read_payload(request)
    if payload.is_form:
        await _check_pre_session_form(request, payload.get("csrf_token"))
    return payload


async def _limit(request: Request, limit: str, *key: str) -> None:
    try:
        await services_of(request).limiter.hit(limit, *key)
    except RateLimited:
        await services_of(request).auditor.record(
            "mail.throttled", request_meta(request), outcome="failure", limit=key[0], purpose=key[1]
        )
        raise


async def _mail_request(request: Request, payload: Payload, purpose: str) -> str:
    """The shared front of "send me a link": per-IP limit, shape of the address, per-address limit."""
    settings = services_of(request).settings
    await _limit(request, settings.rate_limit_mail_per_ip, "mail-ip", purpose, request_meta(request).ip)
    address = requested_address(payload.get("email"))
    await _limit(request, settings.rate_limit_mail_per_address, "mail-address", purpose, address.casefold())
    return address


def _request_failed(request: Request, payload: Payload, exc: OstiaryError, kind: str) -> Response:
    if not payload.is_form or isinstance(exc, Forbidden):
        raise exc
    response = render_request_form(
        request, kind=kind, email=payload.get("email") or "", error=exc.message, status=exc.status
    )
    if isinstance(exc, RateLimited):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


def _accepted(request: Request, payload: Payload, message: str, again: str) -> Response:
    if payload.is_form:
        return render(request, "email_sent.html", message=message, again=again)
    return JSONResponse({"status": "accepted", "message": message}, status_code=202, headers=NO_STORE)


@router.post("/password-reset", status_code=202)
@policy("public")
async def request_password_reset(request: Request) -> Response:
    reset = services_of(request).email.reset
    payload = await _form_checked(request)
    try:
        address = await _mail_request(request, payload, "reset_password")
        reset.request(address, request_meta(request))
    except OstiaryError as exc:
        return _request_failed(request, payload, exc, "reset")
    message = (
        "If an account uses this address, we have sent it a link to choose a new password. "
        f"The link expires in {reset.ttl_seconds // 60} minutes."
    )
    return _accepted(request, payload, message, "/password-reset")


@router.post("/password-reset/confirm")
@policy("public")
async def confirm_password_reset(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    payload = await _form_checked(request)
    token = payload.get("token") or ""
    await _limit(request, services.settings.rate_limit_login_per_ip, "link-ip", "reset_password", meta.ip)
    try:
        await services.email.reset.complete(token, payload.require("new_password"), meta)
    except LinkInvalid as exc:
        if not payload.is_form:
            raise
        return render_link_error(request, exc, kind="reset", heading="Reset your password")
    except OstiaryError as exc:
        if not payload.is_form or isinstance(exc, Forbidden):
            raise
        try:  # show the form again with the reason (a refused password does not use the link up)
            user = await services.email.reset.check(token)
        except LinkInvalid as gone:
            return render_link_error(request, gone, kind="reset", heading="Reset your password")
        return render_reset_form(request, token=token, user=user, error=exc.message, status=exc.status)
    response: Response = (
        render(
            request,
            "email_message.html",
            heading="Password changed",
            message="Your password was changed and every session was signed out. Log in with the new "
            "password.",
        )
        if payload.is_form
        else JSONResponse({"status": "password_reset"}, headers=NO_STORE)
    )
    cookies_of(request).clear(response)  # this browser's session, if any, was ended with the others
    return response


@router.post("/email/verify")
@policy("public")
async def confirm_email(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    payload = await _form_checked(request)
    await _limit(request, services.settings.rate_limit_login_per_ip, "link-ip", "verify_email", meta.ip)
    try:
        user = await services.email.account_mail.verify(payload.get("token"), meta)
    except LinkInvalid as exc:
        if not payload.is_form:
            raise
        return render_link_error(request, exc, kind="verify", heading="Confirm your email address")
    if payload.is_form:
        message = f"The address {user.email} is confirmed. Thank you."
        return render(request, "email_message.html", heading="Email address confirmed", message=message)
    return JSONResponse({"status": "email_verified"}, headers=NO_STORE)


@router.post("/email/verify/resend", status_code=202)
@policy("authenticated")
async def resend_verification(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    if auth.principal.kind != "user":
        raise Forbidden("Only a user has an email address to verify.", code="not_a_user")
    await _limit(request, services.settings.rate_limit_mail_per_ip, "mail-ip", "verify_email", meta.ip)
    await _limit(
        request, services.settings.rate_limit_mail_per_address, "mail-user", "verify_email", auth.user.id
    )
    user = await services.users.get(auth.user.id)
    sent = user is not None and services.email.account_mail.request_verification(user, meta)
    return JSONResponse(
        {"status": "sent" if sent else "nothing_to_verify"}, status_code=202, headers=NO_STORE
    )


@magic_router.post("/magic-link", status_code=202)
@policy("public")
async def request_magic_link(request: Request) -> Response:
    magic = services_of(request).email.magic_link
    assert magic is not None  # mounted only when magic links are on
    payload = await _form_checked(request)
    cookie = link_cookie_name(request)
    presented = request.cookies.get(cookie) or ""
    # One nonce per browser: asking twice keeps both links usable here. Never taken from the body.
    nonce = presented if 32 <= len(presented) <= 64 and presented.isascii() else random_token(32)
    try:
        address = await _mail_request(request, payload, "magic_link")
        magic.request(address, nonce, request_meta(request))
    except OstiaryError as exc:
        return _request_failed(request, payload, exc, "magic")
    message = (
        "If an account uses this address, we have sent it a sign-in link. Open it in this browser; "
        f"it expires in {magic.ttl_seconds // 60} minutes."
    )
    response = _accepted(request, payload, message, "/magic-link")
    secure = cookies_of(request).secure
    response.set_cookie(
        cookie, nonce, max_age=magic.ttl_seconds, path="/", secure=secure, httponly=True, samesite="lax"
    )
    return response


@magic_router.post("/magic-link/confirm")
@policy("public")
async def confirm_magic_link(request: Request) -> Response:
    services = services_of(request)
    magic = services.email.magic_link
    assert magic is not None
    meta = request_meta(request)
    payload = await _form_checked(request)
    await _limit(request, services.settings.rate_limit_login_per_ip, "link-ip", "magic_link", meta.ip)
    cookie = link_cookie_name(request)
    try:
        user = await magic.complete(payload.get("token"), request.cookies.get(cookie), meta)
    except OstiaryError as exc:
        if not payload.is_form:
            raise
        return render_link_error(request, exc, kind="magic", heading="Sign in")
    if services.email.login_notices is not None:
        services.email.login_notices.login_seen(user, meta, method="email_link")
    response: Response
    if user.mfa_enabled:  # the link is one factor: the second step follows (SEC-49, docs/mfa.md)
        started = await services.mfa.login.begin(user, meta, purpose="session", amr=(AMR,))
        response = (
            render_mfa_page(request, mfa_token=started.token, next_url="/")
            if payload.is_form
            else JSONResponse(started.body(), headers=NO_STORE)
        )
    else:
        response = await _start_session(request, user.id, payload)
    response.delete_cookie(cookie, path="/", secure=cookies_of(request).secure, httponly=True, samesite="lax")
    return response


async def _start_session(request: Request, user_id: str, payload: Payload) -> Response:
    services = services_of(request)
    previous = await optional_auth(request)  # a fresh session id (SEC-08); one sent along is ended
    if previous is not None and previous.session is not None:
        await services.sessions.revoke(previous.session.digest)
    new = await services.sessions.create(user_id, request_meta(request), amr=(AMR,))
    response: Response | HTMLResponse
    if payload.is_form:
        response = RedirectResponse("/", status_code=303)
    else:
        user = await services.users.get(user_id)
        assert user is not None
        found = await services.principals.for_session(new.record, user)
        response = JSONResponse(
            {"user": user_json(user, found), "csrf_token": new.csrf_token}, headers=NO_STORE
        )
    cookies_of(request).set_session(response, new.session_id)
    cookies_of(request).set_csrf(response, new.csrf_token)
    return response
