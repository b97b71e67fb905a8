"""Passkeys over HTTP (docs/passkeys.md; W3C WebAuthn L2 §7; SEC-14, SEC-51): a user's own passkeys,
the passkey as the second step of a login, and the passwordless login. JSON in and out.

Every ceremony is two requests: `…/options` returns `{"publicKey": …}` for `navigator.credentials`,
and the next request sends back what the browser made (`credential`, in the browser's JSON form).
Account endpoints need the session's CSRF token like every session route; the login endpoints take
no session (there is none yet): the Origin check, JSON-only bodies and, for passwordless, a nonce
cookie that binds the challenge to the browser that asked for it guard them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ostiary.authn.mfa_login import PURPOSES as MFA_PURPOSES
from ostiary.authn.principals import Authenticated
from ostiary.compose.passkeys import PasskeyWiring
from ostiary.core.errors import ValidationFailed
from ostiary.core.secrets import random_token
from ostiary.storage.interfaces.passkeys import PasskeyRecord
from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.account_page import render_account
from ostiary.web.csrf import check_origin
from ostiary.web.deps import cookies_of, optional_auth, require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.mfa_step import NO_STORE
from ostiary.web.payload import media_type, parse_json_object
from ostiary.web.policy_marks import policy
from ostiary.web.redirects import safe_next
from ostiary.web.routes.auth import user_json

router = APIRouter(tags=["passkeys"])
PAGE_PATH = "/account/passkeys"
NONCE_COOKIE = "ostiary_passkey"


def passkeys_of(request: Request) -> PasskeyWiring:
    wiring = services_of(request).passkeys
    assert wiring is not None  # the router is mounted only when passkeys are on
    return wiring


def passkey_json(record: PasskeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "passwordless": record.discoverable,
        "synced": record.backed_up,
        "transports": list(record.transports),
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
    }


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body: credentials are nested objects, which form bodies cannot carry."""
    if media_type(request) != "application/json":
        raise ValidationFailed("Send the body as application/json.", code="unsupported_media_type")
    return parse_json_object(await request.body())


def text_field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"The field '{name}' must be a string.", field=name)
    return value


def credential_field(body: dict[str, Any]) -> dict[str, Any]:
    """What `navigator.credentials` returned, in its JSON form: an object."""
    value = body.get("credential")
    if not isinstance(value, dict):
        raise ValidationFailed("The field 'credential' must be an object.", field="credential")
    return value


def nonce_cookie_name(request: Request) -> str:
    return f"__Host-{NONCE_COOKIE}" if cookies_of(request).secure else NONCE_COOKIE


async def _limit(request: Request, *key: str) -> None:
    services = services_of(request)
    await services.limiter.hit(services.settings.rate_limit_passkey_per_ip, *key, request_meta(request).ip)


async def _signed_in(request: Request, user: UserRecord, amr: tuple[str, ...], next_url: str) -> Response:
    """A fresh session (SEC-08: one sent along is ended) with the factors of this login as `amr`."""
    services = services_of(request)
    previous = await optional_auth(request)
    if previous is not None and previous.session is not None:
        await services.sessions.revoke(previous.session.digest)
    new = await services.sessions.create(user.id, request_meta(request), amr=amr)
    found = await services.principals.for_session(new.record, user)
    body = {"user": user_json(user, found), "csrf_token": new.csrf_token, "next": next_url}
    response = JSONResponse(body, headers=NO_STORE)
    cookies_of(request).set_session(response, new.session_id)
    cookies_of(request).set_csrf(response, new.csrf_token)
    return response


# --- passwordless login --------------------------------------------------------------------------


@router.post("/auth/passkey/login/options")
@policy("public")
async def passwordless_options(request: Request) -> Response:
    check_origin(request, request.app.state.allowed_origins)
    await _limit(request, "passkey-ip")
    nonce = random_token(32)
    options = await passkeys_of(request).authenticator.passwordless_options(nonce)
    response = JSONResponse({"publicKey": options}, headers=NO_STORE)
    response.set_cookie(
        nonce_cookie_name(request),
        nonce,
        max_age=passkeys_of(request).config.challenge_seconds,
        path="/",  # `__Host-` cookies must have Path=/
        secure=cookies_of(request).secure,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/auth/passkey/login/verify")
@policy("public")
async def passwordless_verify(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    await _limit(request, "passkey-ip")
    body = await json_body(request)
    next_url = safe_next(text_field(body, "next"))
    done = await passkeys_of(request).authenticator.verify_passwordless(
        credential_field(body), request.cookies.get(nonce_cookie_name(request)), meta
    )
    if services.email.login_notices is not None:  # mail on a new device or network (docs/email.md)
        services.email.login_notices.login_seen(done.user, meta, method="passkey")
    response = await _signed_in(request, done.user, done.amr, next_url)
    response.delete_cookie(
        nonce_cookie_name(request), path="/", secure=cookies_of(request).secure, httponly=True
    )
    return response


# --- the second step after a password (docs/mfa.md) ------------------------------------------------


@router.post("/auth/login/mfa/passkey/options")
@policy("public")
async def second_factor_options(request: Request) -> Response:
    """`{"publicKey": …, "totp": bool}` for the user of this pending login; `publicKey` is null when
    the account has no passkey (the MFA page then shows no passkey button), and `totp` says whether
    the code form is of any use (the page hides it for an account with passkeys only). `purpose`
    `"token"` serves the second step of `/auth/token` (its answer then goes there as `passkey`)."""
    services = services_of(request)
    check_origin(request, request.app.state.allowed_origins)
    await services.limiter.hit(services.settings.rate_limit_mfa_per_ip, "mfa-ip", request_meta(request).ip)
    body = await json_body(request)
    purpose = text_field(body, "purpose") or "session"
    if purpose not in MFA_PURPOSES:
        raise ValidationFailed("The field 'purpose' must be 'session' or 'token'.", field="purpose")
    challenge = await services.mfa.login.challenge(text_field(body, "mfa_token"), purpose=purpose)
    authenticator = passkeys_of(request).authenticator
    options = (
        await authenticator.second_factor_options(challenge.user_id, challenge.digest)
        if await authenticator.has_passkeys(challenge.user_id)
        else None
    )
    totp = await services.mfa.totp.credential(challenge.user_id)
    body = {"publicKey": options, "totp": bool(totp and totp.active)}
    return JSONResponse(body, headers=NO_STORE)


@router.post("/auth/login/mfa/passkey")
@policy("public")
async def second_factor_verify(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    await services.limiter.hit(services.settings.rate_limit_mfa_per_ip, "mfa-ip", meta.ip)
    body = await json_body(request)
    done = await services.mfa.login.complete(
        text_field(body, "mfa_token"), meta, purpose="session", passkey=credential_field(body)
    )
    return await _signed_in(request, done.user, done.amr, safe_next(text_field(body, "next")))


# --- a user's own passkeys -----------------------------------------------------------------------


@router.get("/auth/passkeys")
@policy("authenticated")
async def list_passkeys(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    records = await passkeys_of(request).manage.list(auth.user.id)
    return JSONResponse(
        {"passkeys": [passkey_json(r) for r in records]}, headers={"Cache-Control": "no-store"}
    )


@router.post("/auth/passkeys/register/options")
@policy("authenticated")
async def registration_options(
    request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    body = await json_body(request)
    passwordless = body.get("passwordless", True)
    if not isinstance(passwordless, bool):
        raise ValidationFailed("The field 'passwordless' must be true or false.", field="passwordless")
    options = await passkeys_of(request).manage.registration_options(
        auth.user, auth.principal, request_meta(request), passwordless=passwordless
    )
    return JSONResponse({"publicKey": options}, headers=NO_STORE)


@router.post("/auth/passkeys/register", status_code=201)
@policy("authenticated")
async def register(request: Request, auth: Authenticated = Depends(require_user_csrf)) -> Response:
    services = services_of(request)
    body = await json_body(request)
    done = await passkeys_of(request).manage.register(
        auth.user, credential_field(body), request_meta(request), name=text_field(body, "name")
    )
    if done.mfa_turned_on:
        # Two-step login is on from now: sessions opened without it end, as when TOTP is turned on.
        await services.sessions.revoke_user(auth.user.id, keep=auth.session.digest if auth.session else None)
    result = {
        "passkey": passkey_json(done.passkey),
        "mfa_turned_on": done.mfa_turned_on,
        "recovery_codes": done.recovery_codes,
    }
    return JSONResponse(result, status_code=201, headers=NO_STORE)


@router.post("/auth/passkeys/{passkey_id}/rename", status_code=204, response_model=None)
@policy("authenticated")
async def rename(
    passkey_id: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    body = await json_body(request)
    await passkeys_of(request).manage.rename(
        auth.user, passkey_id, text_field(body, "name"), request_meta(request)
    )
    return Response(status_code=204)


@router.post("/auth/passkeys/{passkey_id}/remove")
@policy("authenticated")
async def remove(
    passkey_id: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    outcome = await passkeys_of(request).manage.remove(
        auth.user, auth.principal, passkey_id, request_meta(request)
    )
    return JSONResponse(
        {"status": "removed", "mfa_turned_off": outcome.mfa_turned_off}, headers={"Cache-Control": "no-store"}
    )


# --- the account page ----------------------------------------------------------------------------


@router.get(PAGE_PATH, include_in_schema=False)
@policy("public")
async def passkeys_page(request: Request) -> Response:
    auth = await optional_auth(request)
    if auth is None or auth.session is None:
        return RedirectResponse(f"/login?next={PAGE_PATH}", status_code=303)
    records = await passkeys_of(request).manage.list(auth.user.id)
    return render_account(
        request, auth, "passkeys.html", section="passkeys", user=auth.user, passkeys=records
    )
