"""The pages of the email flows (docs/email.md): request a reset or a sign-in link, open a link.

Opening a link (GET) never uses it up: it shows a page whose button POSTs the token, so mail
scanners and link previews that fetch URLs consume nothing. Tokens arrive in the query string, which
the access log never records (SEC-09), and every page sends `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from ostiary.authn.email_links import LinkInvalid
from ostiary.core.errors import OstiaryError
from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.deps import services_of
from ostiary.web.pages_render import render, render_with_form_token
from ostiary.web.policy_marks import policy

router = APIRouter(include_in_schema=False)
magic_router = APIRouter(include_in_schema=False)

LINK_COOKIE = "ostiary_link"  # `__Host-` prefixed over HTTPS (web/cookies.py rules)
AGAIN = {
    "reset": ("/password-reset", "Request a new reset link"),
    "magic": ("/magic-link", "Request a new sign-in link"),
    "verify": ("/account/profile", "Go to your account to send a new link"),
}


def link_cookie_name(request: Request) -> str:
    return f"__Host-{LINK_COOKIE}" if services_of(request).settings.secure_cookies else LINK_COOKIE


def render_link_error(request: Request, exc: OstiaryError, *, kind: str, heading: str) -> HTMLResponse:
    again, label = AGAIN[kind]
    return render(
        request,
        "email_message.html",
        status=exc.status,
        heading=heading,
        error=exc.message,
        again=again,
        again_label=label,
    )


def render_request_form(
    request: Request, *, kind: str, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    if kind == "reset":
        texts = {
            "heading": "Reset your password",
            "intro": "Enter the email address of your account and we will send you a link to choose a "
            "new password.",
            "action": "/auth/password-reset",
            "button": "Send the reset link",
        }
    else:
        texts = {
            "heading": "Sign in with an email link",
            "intro": "Enter the email address of your account and we will send you a link that signs you in "
            "from this browser.",
            "action": "/auth/magic-link",
            "button": "Send the sign-in link",
        }
    return render_with_form_token(
        request, "email_request.html", status=status, email=email, error=error, **texts
    )


def render_reset_form(
    request: Request, *, token: str, user: UserRecord, error: str | None = None, status: int = 200
) -> HTMLResponse:
    settings = services_of(request).settings
    return render_with_form_token(
        request,
        "password_reset_form.html",
        status=status,
        token=token,
        username=user.username,
        error=error,
        min_length=settings.password_min_length_with_mfa
        if user.mfa_enabled
        else settings.password_min_length,
    )


@router.get("/password-reset")
@policy("public")
async def password_reset_page(request: Request) -> HTMLResponse:
    return render_request_form(request, kind="reset")


@router.get("/password-reset/confirm")
@policy("public")
async def password_reset_link(request: Request) -> HTMLResponse:
    token = request.query_params.get("token") or ""
    try:
        user = await services_of(request).email.reset.check(token)
    except LinkInvalid as exc:
        return render_link_error(request, exc, kind="reset", heading="Reset your password")
    return render_reset_form(request, token=token, user=user)


@router.get("/email/verify")
@policy("public")
async def verify_email_link(request: Request) -> HTMLResponse:
    token = request.query_params.get("token") or ""
    try:
        await services_of(request).email.links.peek(token, "verify_email")
    except LinkInvalid as exc:
        return render_link_error(request, exc, kind="verify", heading="Confirm your email address")
    return render_with_form_token(
        request,
        "email_link_confirm.html",
        heading="Confirm your email address",
        text="Confirm that this email address belongs to your account.",
        action="/auth/email/verify",
        button="Confirm my address",
        token=token,
    )


@magic_router.get("/magic-link")
@policy("public")
async def magic_link_page(request: Request) -> HTMLResponse:
    return render_request_form(request, kind="magic")


@magic_router.get("/magic-link/confirm")
@policy("public")
async def magic_link_open(request: Request) -> HTMLResponse:
    token = request.query_params.get("token") or ""
    magic = services_of(request).email.magic_link
    assert magic is not None  # this router is mounted only when magic links are on
    try:
        await magic.check(token, request.cookies.get(link_cookie_name(request)))
    except OstiaryError as exc:
        return render_link_error(request, exc, kind="magic", heading="Sign in")
    return render_with_form_token(
        request,
        "email_link_confirm.html",
        heading="Sign in",
        text="Continue to sign in to your account in this browser.",
        action="/auth/magic-link/confirm",
        button="Sign in",
        token=token,
    )
