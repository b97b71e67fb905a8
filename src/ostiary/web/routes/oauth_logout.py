"""OpenID Connect RP-Initiated Logout 1.0 §2–3 over HTTP: the end_session endpoint.

GET|POST /end_session      validate (oidc/logout.py): a forged or foreign `id_token_hint`, or a
                           `post_logout_redirect_uri` not registered byte for byte → a page, and no
                           redirect anywhere (SEC-46) → no session in this browser: nothing to end
                           → a valid hint naming the signed-in user: end the session → otherwise
                           (no hint, or another user's) a confirmation page, never a silent logout
POST /end_session/confirm  that page's form: CSRF + Origin (SEC-13), the carried parameters
                           validated again, then the session is ended

The end is a 303 to the registered URI with `state` (§3), or our "signed out" page when none was
given. Ending the session is the first-party logout: the session is deleted on the server, the
cookies are cleared and a `logout` audit record names the client.

A cross-site POST carries no session cookie (it is SameSite=Lax), so for a relying party that
posts its logout request this browser looks signed out; relying parties should use GET, which is
a top-level navigation and carries the cookie (docs/oauth.md).
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ostiary.authn.principals import Authenticated
from ostiary.oauth2.errors import OAuthError
from ostiary.oauth2.requests import OAuthRequest, single
from ostiary.oidc.logout import LogoutRequest
from ostiary.web.deps import cookies_of, optional_auth, services_of, verify_csrf
from ostiary.web.meta import request_meta
from ostiary.web.oauth_http import allow_form_action, to_oauth_request
from ostiary.web.pages_render import render
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_introspection import endpoints_of
from ostiary.web.routes.oauth_metadata import END_SESSION_PATH

router = APIRouter(include_in_schema=False)

CONFIRM_PATH = f"{END_SESSION_PATH}/confirm"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# What the confirmation form carries back: the parameters the validator reads (§2).
CARRIED = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")


@router.api_route(END_SESSION_PATH, methods=["GET", "POST"])
@policy("public")  # a relying party sends any browser here; the session, if any, is checked below
async def end_session(request: Request) -> Response:
    auth = await signed_in(request)
    try:
        oauth_request = await to_oauth_request(request)
        logout = await endpoints_of(request).logout.validate(
            oauth_request, session_user_id=auth.user.id if auth is not None else None
        )
    except OAuthError as exc:
        return refused(request, exc)
    if auth is None:
        return finished(request, logout)  # nothing to end in this browser
    if logout.requires_confirmation:
        return confirmation_page(request, auth, logout, oauth_request)
    return await end_and_finish(request, auth, logout)


@router.post(CONFIRM_PATH)
@policy("public")  # without a session there is nothing to end; the answer is the same redirect
async def confirm(request: Request) -> Response:
    auth = await signed_in(request)
    try:
        oauth_request = await to_oauth_request(request)
        csrf_token = single(oauth_request.form, "csrf_token") or ""
    except OAuthError as exc:
        return refused(request, exc)
    await verify_csrf(request, auth, csrf_token)  # Origin always; the session's token when signed in
    carried = {name: oauth_request.form[name] for name in CARRIED if name in oauth_request.form}
    try:
        # Validated again in full: the client may have changed since the page was shown.
        logout = await endpoints_of(request).logout.validate(
            replace(oauth_request, form=carried), session_user_id=auth.user.id if auth is not None else None
        )
    except OAuthError as exc:
        return refused(request, exc)
    if auth is None:
        return finished(request, logout)
    return await end_and_finish(request, auth, logout)


async def end_and_finish(request: Request, auth: Authenticated, logout: LogoutRequest) -> Response:
    services = services_of(request)
    if auth.session is not None:
        await services.sessions.revoke(auth.session.digest)
        await services.auditor.record(
            "logout",
            request_meta(request),
            actor=auth.user.id,
            subject=auth.user.id,
            client_id=logout.client.client_id if logout.client is not None else None,
            via="end_session",
        )
    response = finished(request, logout, signed_out=True)
    cookies_of(request).clear(response)
    return response


def finished(request: Request, logout: LogoutRequest, *, signed_out: bool = False) -> Response:
    """§3: a 303 to the registered URI with `state`, else our page."""
    location = logout.redirect_to
    if location is not None:
        return RedirectResponse(location, status_code=303, headers=NO_STORE)
    return render(request, "logout_done.html", signed_out=signed_out, client_name=client_name(logout))


def confirmation_page(
    request: Request, auth: Authenticated, logout: LogoutRequest, oauth_request: OAuthRequest
) -> Response:
    params = oauth_request.query if oauth_request.method.upper() == "GET" else oauth_request.form
    hidden = [(name, params[name][0]) for name in CARRIED if params.get(name)]
    response = render(
        request,
        "logout_confirm.html",
        username=auth.user.username,
        client_name=client_name(logout),
        hidden=hidden,
        csrf_token=auth.session.csrf_secret if auth.session is not None else "",
        action=CONFIRM_PATH,
    )
    if logout.post_logout_redirect_uri is not None:
        # The confirmation ends in a 303 to the client; the browser checks it against form-action.
        allow_form_action(response, request, logout.post_logout_redirect_uri)
    return response


def refused(request: Request, error: OAuthError) -> Response:
    """SEC-46: an invalid request is explained on our page; nothing redirects, nothing is ended."""
    return render(request, "logout_done.html", status=400, error=error.error_description)


def client_name(logout: LogoutRequest) -> str | None:
    client = logout.client
    return (client.name or client.client_id) if client is not None else None


async def signed_in(request: Request) -> Authenticated | None:
    """The browser's signed-in user; only a browser session can be ended here."""
    auth = await optional_auth(request)
    return auth if auth is not None and auth.session is not None else None
