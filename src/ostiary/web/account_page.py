"""What every account page shares (docs/account.md): the signed-in browser session, the page's form
with its CSRF check (SEC-13), the navigation, and errors shown on the page instead of as JSON.

The pages are plain HTML forms. A GET shows a section; its forms POST to a small route that calls the
existing service and answers 303 back to the section with a `done` key naming a fixed message (no
user text travels in the URL). What must be shown exactly once — a new TOTP secret, recovery codes, a
new API key — is rendered straight into the POST's answer (`Cache-Control: no-store`) and never
stored. A change that needs a recent login (SEC-14) shows the reason with a "Sign in again" link that
comes back to the same page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ostiary.authn.principals import Authenticated
from ostiary.core.errors import OstiaryError, ReauthRequired, ValidationFailed
from ostiary.web.deps import optional_auth, services_of, verify_csrf
from ostiary.web.pages_render import render
from ostiary.web.payload import FORM_MEDIA_TYPES, media_type

HUB_PATH = "/account"

# Messages after a 303, chosen by the `done` query parameter; unknown keys show nothing.
DONE_MESSAGES = {
    "profile": "Your profile was saved.",
    "email": "Your email address was changed. A confirmation link went to the new address, and a "
    "notice to the old one.",
    "verify_sent": "A new confirmation link is on its way to your address.",
    "nothing_to_verify": "Your address is already confirmed.",
    "password": "Your password was changed, and your other sessions were ended.",
    "totp_off": "The authenticator app was removed.",
    "session_revoked": "The session was ended.",
    "sessions_revoked": "Your other sessions were ended.",
    "family_revoked": "The app's sign-in was revoked: its tokens no longer work.",
    "app_revoked": "The app's access was revoked.",
    "key_revoked": "The API key was revoked.",
}


@dataclass(frozen=True)
class Problem:
    """An error to show on the page; `reauth_url` when signing in again is the way forward."""

    message: str
    status: int
    reauth_url: str | None = None


@dataclass(frozen=True)
class Posted:
    auth: Authenticated
    form: FormData

    def get(self, name: str) -> str | None:
        """One text field; 400 when it is repeated or a file."""
        values = self.form.getlist(name)
        if len(values) > 1:
            raise ValidationFailed(f"The field '{name}' is repeated.", field=name, code="duplicate_field")
        if not values:
            return None
        value = values[0]
        if not isinstance(value, str):
            raise ValidationFailed(f"The field '{name}' must be text.", field=name)
        return value

    def all(self, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes)."""
        values = self.form.getlist(name)
        if not all(isinstance(v, str) for v in values):
            raise ValidationFailed(f"The field '{name}' must be text.", field=name)
        return [str(v) for v in values]


def login_url(back: str, *, reauth: bool = False) -> str:
    query = {"next": back, **({"reauth": "1"} if reauth else {})}
    return f"/login?{urlencode(query, safe='/')}"


def to_login(back: str) -> RedirectResponse:
    return RedirectResponse(login_url(back), status_code=303)


def back_to(path: str, done: str) -> RedirectResponse:
    """303 after a successful POST: the section again, with its fixed message."""
    return RedirectResponse(f"{path}?{urlencode({'done': done})}", status_code=303)


async def signed_in(request: Request) -> Authenticated | None:
    """The caller's browser session, or None (strangers and bearer tokens are sent to log in; an
    API key is refused before this point, web/bearer.py)."""
    auth = await optional_auth(request)
    return auth if auth is not None and auth.session is not None else None


async def posted(request: Request, back: str) -> Posted | Response:
    """The signed-in session and its form, CSRF- and Origin-checked (403 otherwise, nothing done);
    a caller without a session is sent to log in, and nothing is done either."""
    auth = await signed_in(request)
    if auth is None:
        return to_login(back)
    if media_type(request) not in FORM_MEDIA_TYPES:
        raise ValidationFailed("Send the page's form.", code="unsupported_media_type")
    form = await request.form()
    token = form.get("csrf_token")
    await verify_csrf(request, auth, token if isinstance(token, str) else "")
    return Posted(auth, form)


Renderer = Callable[[Request, Authenticated, Problem | None], Awaitable[Response]]


async def handle(
    request: Request, back: str, action: Callable[[Posted], Awaitable[Response]], show: Renderer
) -> Response:
    """Run a page POST: `action` on success; on an error, the section again with the message (and a
    "Sign in again" link for SEC-14's reauth_required)."""
    got = await posted(request, back)
    if not isinstance(got, Posted):
        return got
    try:
        return await action(got)
    except ReauthRequired as exc:
        problem = Problem(exc.message, exc.status, reauth_url=login_url(back, reauth=True))
        return await show(request, got.auth, problem)
    except OstiaryError as exc:
        response = await show(request, got.auth, Problem(exc.message, exc.status))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response.headers["retry-after"] = str(retry_after)
        return response


def nav_of(request: Request) -> list[tuple[str, str, str]]:
    """(section, path, label) of the account pages that exist on this server."""
    services = services_of(request)
    items = [
        ("overview", HUB_PATH, "Overview"),
        ("profile", "/account/profile", "Profile"),
        ("password", "/account/password", "Password"),
        ("two-step", "/account/two-step", "Two-step verification"),
    ]
    if services.passkeys is not None:
        items.append(("passkeys", "/account/passkeys", "Passkeys"))
    items.append(("sessions", "/account/sessions", "Sessions"))
    if services.oauth is not None:
        items.append(("apps", "/account/apps", "Connected apps"))
    items.append(("api-keys", "/account/api-keys", "API keys"))
    return items


def render_account(
    request: Request,
    auth: Authenticated,
    template: str,
    *,
    section: str,
    problem: Problem | None = None,
    notice: str | None = None,
    **context: Any,
) -> HTMLResponse:
    assert auth.session is not None  # signed_in() lets only browser sessions through
    if notice is None and request.method == "GET":
        notice = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(
        request,
        template,
        status=problem.status if problem else 200,
        section=section,
        account_nav=nav_of(request),
        csrf_token=auth.session.csrf_secret,
        error=problem.message if problem else None,
        reauth_url=problem.reauth_url if problem else None,
        notice=notice,
        **context,
    )
