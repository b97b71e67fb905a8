"""The account pages (docs/account.md), part 1: the overview, profile, password and two-step
verification (TOTP and recovery codes). Part 2, sessions, apps and API keys, is account_access_pages.

Every page needs a browser session (a stranger is sent to log in and brought back); every form is
CSRF- and Origin-checked (SEC-13) and calls the same service as its JSON twin, so the rules — recent
sign-in for changes (SEC-14), the password policy, notices by mail — are the same on both paths.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from starlette.responses import Response

from ostiary.authn.principals import Authenticated
from ostiary.authn.totp import TotpEnrollment
from ostiary.core.errors import NotAuthenticated
from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.account_page import (
    HUB_PATH,
    Posted,
    Problem,
    back_to,
    handle,
    render_account,
    signed_in,
    to_login,
)
from ostiary.web.deps import cookies_of, services_of
from ostiary.web.meta import request_meta
from ostiary.web.policy_marks import policy
from ostiary.web.routes.profile import profile_changes, update_profile

router = APIRouter(include_in_schema=False)
PROFILE_PATH = "/account/profile"
PASSWORD_PATH = "/account/password"
TWO_STEP_PATH = "/account/two-step"


async def _stored(request: Request, auth: Authenticated) -> UserRecord:
    """The account as stored now (the session's cached record may be a moment behind a change)."""
    user = await services_of(request).users.get(auth.user.id)
    if user is None or user.disabled:
        raise NotAuthenticated()
    return user


# --- overview ------------------------------------------------------------------------------------


@router.get(HUB_PATH)
@policy("page")
async def overview(request: Request) -> Response:
    auth = await signed_in(request)
    if auth is None:
        return to_login(HUB_PATH)
    services = services_of(request)
    user = await _stored(request, auth)
    passkeys = await services.passkeys.manage.list(user.id) if services.passkeys else []
    return render_account(
        request,
        auth,
        "account.html",
        section="overview",
        user=user,
        mfa=await services.mfa.manage.status(user),
        passkeys=len(passkeys),
        passkeys_on=services.passkeys is not None,
        oauth_on=services.oauth is not None,
        sessions=len(await services.sessions.list_user(user.id)),
        families=len(await services.tokens.refresh.families(user.id)),
    )


# --- profile -------------------------------------------------------------------------------------


async def show_profile(
    request: Request, auth: Authenticated, problem: Problem | None = None, **form: str | None
) -> Response:
    user = await _stored(request, auth)
    return render_account(
        request,
        auth,
        "account_profile.html",
        section="profile",
        problem=problem,
        user=user,
        form_username=form.get("username"),
        form_email=form.get("email"),
    )


@router.get(PROFILE_PATH)
@policy("page")
async def profile_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(PROFILE_PATH) if auth is None else await show_profile(request, auth)


@router.post(PROFILE_PATH)
@policy("page")
async def save_profile(request: Request) -> Response:
    typed: dict[str, str | None] = {}

    async def save(got: Posted) -> Response:
        typed.update(username=got.get("username") or "", email=(got.get("email") or "").strip())
        changes = profile_changes({"username": typed["username"], "email": typed["email"] or None})
        before = await _stored(request, got.auth)
        updated = await update_profile(request, got.auth, changes)
        return back_to(PROFILE_PATH, "email" if updated.email != before.email else "profile")

    async def again(request: Request, auth: Authenticated, problem: Problem | None) -> Response:
        return await show_profile(request, auth, problem, **typed)  # keep what was typed

    return await handle(request, PROFILE_PATH, save, again)


@router.post(f"{PROFILE_PATH}/verify")
@policy("page")
async def resend_verification(request: Request) -> Response:
    """A new confirmation link; the same per-IP and per-user budget as /auth/email/verify/resend."""

    async def resend(got: Posted) -> Response:
        services = services_of(request)
        meta = request_meta(request)
        await services.limiter.hit(
            services.settings.rate_limit_mail_per_ip, "mail-ip", "verify_email", meta.ip
        )
        await services.limiter.hit(
            services.settings.rate_limit_mail_per_address, "mail-user", "verify_email", got.auth.user.id
        )
        user = await _stored(request, got.auth)
        sent = services.email.account_mail.request_verification(user, meta)
        return back_to(PROFILE_PATH, "verify_sent" if sent else "nothing_to_verify")

    return await handle(request, PROFILE_PATH, resend, show_profile)


# --- password ------------------------------------------------------------------------------------


async def show_password(request: Request, auth: Authenticated, problem: Problem | None = None) -> Response:
    user = await _stored(request, auth)
    settings = services_of(request).settings
    minimum = settings.password_min_length_with_mfa if user.mfa_enabled else settings.password_min_length
    return render_account(
        request,
        auth,
        "account_password.html",
        section="password",
        problem=problem,
        user=user,
        min_length=minimum,
    )


@router.get(PASSWORD_PATH)
@policy("page")
async def password_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(PASSWORD_PATH) if auth is None else await show_password(request, auth)


@router.post(PASSWORD_PATH)
@policy("page")
async def change_password(request: Request) -> Response:
    async def change(got: Posted) -> Response:
        # Every other session and refresh-token family ends; this one gets a new id (SEC-04, SEC-08).
        rotated = await services_of(request).accounts.change_password(
            await _stored(request, got.auth),
            got.get("current_password") or "",
            got.get("new_password") or "",
            got.auth.session,
            request_meta(request),
        )
        response = back_to(PASSWORD_PATH, "password")
        if rotated is not None:
            cookies_of(request).set_session(response, rotated.session_id)
            cookies_of(request).set_csrf(response, rotated.csrf_token)
        return response

    return await handle(request, PASSWORD_PATH, change, show_password)


# --- two-step verification: TOTP and recovery codes (docs/mfa.md) --------------------------------


def qr_data_uri(svg: str) -> str:
    """The QR code as an <img> source: the page's CSP allows data: images, and no markup of the SVG
    lands in the page itself."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


async def show_two_step(
    request: Request,
    auth: Authenticated,
    problem: Problem | None = None,
    *,
    enrollment: TotpEnrollment | None = None,
    recovery_codes: list[str] | None = None,
    notice: str | None = None,
) -> Response:
    services = services_of(request)
    user = await _stored(request, auth)
    passkeys = len(await services.passkeys.manage.list(user.id)) if services.passkeys else None
    return render_account(
        request,
        auth,
        "account_two_step.html",
        section="two-step",
        problem=problem,
        notice=notice,
        mfa=await services.mfa.manage.status(user),
        passkeys=passkeys,
        enrollment=enrollment,
        qr_data_uri=qr_data_uri(enrollment.qr_svg) if enrollment else None,
        recovery_codes=recovery_codes,
    )


@router.get(TWO_STEP_PATH)
@policy("page")
async def two_step_page(request: Request) -> Response:
    auth = await signed_in(request)
    return to_login(TWO_STEP_PATH) if auth is None else await show_two_step(request, auth)


@router.post(f"{TWO_STEP_PATH}/totp")
@policy("page")
async def start_totp(request: Request) -> Response:
    """A new secret, rendered into this answer only (no-store): the QR code and the manual key."""

    async def start(got: Posted) -> Response:
        user = await _stored(request, got.auth)
        enrollment = await services_of(request).mfa.manage.start_totp(
            user, got.auth.principal, request_meta(request)
        )
        return await show_two_step(request, got.auth, enrollment=enrollment)

    return await handle(request, TWO_STEP_PATH, start, show_two_step)


@router.post(f"{TWO_STEP_PATH}/totp/confirm")
@policy("page")
async def confirm_totp(request: Request) -> Response:
    async def confirm(got: Posted) -> Response:
        services = services_of(request)
        user = await _stored(request, got.auth)
        codes = await services.mfa.manage.confirm_totp(user, got.get("code"), request_meta(request))
        # As /auth/mfa/totp/confirm: sessions opened without the new factor end (this one stays).
        session = got.auth.session
        await services.sessions.revoke_user(user.id, keep=session.digest if session else None)
        notice = "Two-step verification is on. Your other sessions were ended."
        return await show_two_step(request, got.auth, recovery_codes=codes, notice=notice)

    return await handle(request, TWO_STEP_PATH, confirm, show_two_step)


@router.post(f"{TWO_STEP_PATH}/totp/disable")
@policy("page")
async def disable_totp(request: Request) -> Response:
    async def disable(got: Posted) -> Response:
        user = await _stored(request, got.auth)
        await services_of(request).mfa.manage.disable_totp(user, got.auth.principal, request_meta(request))
        return back_to(TWO_STEP_PATH, "totp_off")

    return await handle(request, TWO_STEP_PATH, disable, show_two_step)


@router.post(f"{TWO_STEP_PATH}/recovery-codes")
@policy("page")
async def regenerate_recovery_codes(request: Request) -> Response:
    async def regenerate(got: Posted) -> Response:
        user = await _stored(request, got.auth)
        codes = await services_of(request).mfa.manage.regenerate_recovery_codes(
            user, got.auth.principal, request_meta(request)
        )
        return await show_two_step(
            request, got.auth, recovery_codes=codes, notice="New recovery codes are ready."
        )

    return await handle(request, TWO_STEP_PATH, regenerate, show_two_step)
