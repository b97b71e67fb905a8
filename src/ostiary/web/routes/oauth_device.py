"""RFC 8628 §3.1–3.3 over HTTP: the device authorization endpoint and the verification pages.

POST /device_authorization  a form in, the core's JSON out with its headers (`no-store`, SEC-40)
GET  /device                the signed-in user's page with a `user_code` field, prefilled from
                            `verification_uri_complete`; without a session, the login page first
POST /device                CSRF + Origin (SEC-13) → the per-IP and per-user limit on submitted
                            codes (SEC-37, §5.1) → look the code up → the confirmation page: the
                            client, the scopes in words, the code to compare with the device's
                            screen (§5.4), Approve and Deny
POST /device/decision       CSRF + Origin → the confirmation's seal → approve or deny → done page

Wrong, expired and used codes get a clear message on the page (never a 500) and an audit record.
The Approve/Deny form carries a seal bound to the session, the code and the scopes shown
(`DeviceConfirmations`), so it is not a second, unthrottled way to try codes and never grants more
than the page showed. Approving re-checks the user (SEC-37, authentik CVE-2024-38371) and records
the consent, so the device's access is listed and revocable with the others (SEC-41).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ostiary.authn.principals import Authenticated
from ostiary.core.errors import RateLimited
from ostiary.oauth2.device import (
    ApprovalNotAllowed,
    UserCodeError,
    canonical_user_code,
    format_user_code,
)
from ostiary.oauth2.errors import OAuthError
from ostiary.oauth2.requests import Params, single
from ostiary.oauth2.scopes import format_scope, intersect
from ostiary.storage.interfaces.oauth_device import DeviceAuthorization
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.web.csrf import check_origin
from ostiary.web.deps import optional_auth, services_of, verify_csrf
from ostiary.web.meta import request_meta
from ostiary.web.oauth_http import oauth_error_json, to_oauth_request, token_response
from ostiary.web.oauth_pages import describe_scopes
from ostiary.web.pages_render import render
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_authorize import oauth_of
from ostiary.web.routes.oauth_introspection import endpoints_of
from ostiary.web.routes.oauth_metadata import DEVICE_AUTHORIZATION_PATH

router = APIRouter(include_in_schema=False)

VERIFICATION_PATH = "/device"
DECISION_PATH = "/device/decision"
LOGIN_PATH = "/login"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ENTER_CODE = "Enter the code shown on your device."
STALE_CONFIRMATION = "This confirmation is no longer valid. Enter the code again."
CLIENT_GONE = "The application that asked for this code is no longer available."


@router.post(DEVICE_AUTHORIZATION_PATH)
@policy("public")  # the caller is a client, authenticated by the protocol core (§3.1)
async def device_authorization(request: Request) -> Response:
    try:
        oauth_request = await to_oauth_request(request)
    except OAuthError as exc:
        return oauth_error_json(exc)
    return token_response(await endpoints_of(request).device_authorization.handle(oauth_request))


@router.get(VERIFICATION_PATH)
@policy("page")  # anyone else is sent to the login page, and back here after it
async def verification_page(request: Request) -> Response:
    typed = request.query_params.get("user_code")
    auth = await signed_in(request)
    if auth is None:
        return login_redirect(typed)
    return device_page(request, auth, user_code=shown_code(typed))


@router.post(VERIFICATION_PATH)
@policy("page")
async def submit_code(request: Request) -> Response:
    check_origin(request, request.app.state.allowed_origins)
    auth = await signed_in(request)
    form, bad_form = await page_form(request)
    typed = first(form, "user_code")
    if auth is None:
        return login_redirect(typed)
    await verify_csrf(request, auth, first(form, "csrf_token") or "")
    if bad_form is not None:
        return device_page(request, auth, error=bad_form, status=400)
    if not typed:
        return device_page(request, auth, error=ENTER_CODE, status=400)
    services, endpoints = services_of(request), endpoints_of(request)
    meta = request_meta(request)
    try:
        await services.limiter.hit(endpoints.user_code_attempts, "device-code-ip", meta.ip)
        await services.limiter.hit(endpoints.user_code_attempts, "device-code-user", auth.user.id)
    except RateLimited as exc:
        await services.auditor.record(
            "oauth.device_code_throttled", meta, outcome="failure", actor=auth.user.id
        )
        return device_page(request, auth, error=exc.message, status=429, retry_after=exc.retry_after)
    try:
        record = await endpoints.device_verification.lookup(typed)
    except UserCodeError as exc:
        await services.auditor.record(
            "oauth.device_code_rejected", meta, outcome="failure", actor=auth.user.id, reason=exc.code
        )
        return device_page(request, auth, user_code=shown_code(typed), error=exc.message, status=exc.status)
    return await confirmation_page(request, auth, record, format_user_code(canonical_user_code(typed) or ""))


@router.post(DECISION_PATH)
@policy("page")
async def decide(request: Request) -> Response:
    check_origin(request, request.app.state.allowed_origins)
    auth = await signed_in(request)
    if auth is None:
        return login_redirect(None)
    form, bad_form = await page_form(request)
    await verify_csrf(request, auth, first(form, "csrf_token") or "")
    canonical = canonical_user_code(first(form, "user_code") or "")
    shown = first(form, "scopes") or ""
    endpoints, session = endpoints_of(request), session_of(auth)
    sealed = endpoints.device_confirmations.valid(
        first(form, "confirmation"), session.digest, canonical or "", shown
    )
    if bad_form is not None or canonical is None or not sealed:
        return device_page(request, auth, error=bad_form or STALE_CONFIRMATION, status=400)
    decision = first(form, "decision")
    if decision not in ("approve", "deny"):
        return device_page(request, auth, error="Choose Approve or Deny.", status=400)
    verification = endpoints.device_verification
    try:
        if decision == "deny":
            decided = await verification.deny(canonical, auth.user.id, session.auth_time, session.amr)
        else:
            record = await verification.lookup(canonical)
            if format_scope(await grantable(request, auth, record)) != shown:
                # What this user may grant changed since the page was shown: show it again.
                return await confirmation_page(request, auth, record, format_user_code(canonical))
            decided = await verification.approve(canonical, auth.user.id, session.auth_time, session.amr)
    except (UserCodeError, ApprovalNotAllowed) as exc:
        return device_page(request, auth, error=exc.message, status=exc.status)
    return await finish(request, auth, decided)


async def finish(request: Request, auth: Authenticated, decided: DeviceAuthorization) -> Response:
    wiring, services = oauth_of(request), services_of(request)
    approved = decided.status == "approved"
    if approved:
        await wiring.consents.grant(auth.user.id, decided.client_id, decided.scope, at=wiring.clock.now())
    await services.auditor.record(
        "oauth.device_approved" if approved else "oauth.device_denied",
        request_meta(request),
        actor=auth.user.id,
        subject=auth.user.id,
        client_id=decided.client_id,
        scope=format_scope(decided.scope),
    )
    client = await wiring.clients.get(decided.client_id)
    name = (client.name or client.client_id) if client is not None else decided.client_id
    return render(request, "device_done.html", approved=approved, client_name=name)


async def grantable(request: Request, auth: Authenticated, record: DeviceAuthorization) -> tuple[str, ...]:
    """What this user may grant of what the device asked for (the core narrows approval the same way)."""
    found = await oauth_of(request).users.grantable_scopes(auth.user.id, record.scope)
    return intersect(record.scope, found or ())


async def confirmation_page(
    request: Request, auth: Authenticated, record: DeviceAuthorization, user_code: str
) -> Response:
    session, wiring = session_of(auth), oauth_of(request)
    client = await wiring.clients.get(record.client_id)
    if client is None or client.disabled:
        return device_page(request, auth, error=CLIENT_GONE, status=400)
    scopes = await grantable(request, auth, record)
    if not scopes:  # SEC-37: a user without access to the application cannot approve
        return device_page(request, auth, error=ApprovalNotAllowed().message, status=403)
    shown = format_scope(scopes)
    permissions = (await services_of(request).rbac.snapshot()).permissions  # name → description
    seal = endpoints_of(request).device_confirmations.seal(
        session.digest, canonical_user_code(user_code) or "", shown
    )
    return render(
        request,
        "device_confirm.html",
        client_name=client.name or client.client_id,
        username=auth.user.username,
        scopes=describe_scopes(scopes, permissions),
        user_code=user_code,
        csrf_token=session.csrf_secret,
        confirmation=seal,
        shown_scopes=shown,
    )


def device_page(
    request: Request,
    auth: Authenticated,
    *,
    user_code: str = "",
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "device.html",
        status=status,
        username=auth.user.username,
        user_code=user_code,
        error=error,
        csrf_token=session_of(auth).csrf_secret,
    )
    if retry_after:
        response.headers["retry-after"] = str(retry_after)
    return response


async def signed_in(request: Request) -> Authenticated | None:
    """The browser's signed-in user; a bearer token is no way to approve a device."""
    auth = await optional_auth(request)
    return auth if auth is not None and auth.session is not None else None


def session_of(auth: Authenticated) -> SessionRecord:
    if auth.session is None:  # signed_in() lets only session-backed callers through
        raise RuntimeError("the device pages need a browser session")
    return auth.session


def login_redirect(typed: str | None) -> Response:
    code = shown_code(typed)
    back = f"{VERIFICATION_PATH}?{urlencode({'user_code': code})}" if code else VERIFICATION_PATH
    return RedirectResponse(f"{LOGIN_PATH}?{urlencode({'next': back})}", status_code=303, headers=NO_STORE)


def shown_code(typed: str | None) -> str:
    """A typed code in display form, or "" for anything that cannot be one (never echoed raw)."""
    canonical = canonical_user_code(typed) if typed else None
    return format_user_code(canonical) if canonical else ""


async def page_form(request: Request) -> tuple[Params, str | None]:
    """The posted form, and a message for the page if it could not be read."""
    try:
        form = (await to_oauth_request(request)).form
        for name in ("csrf_token", "user_code", "confirmation", "scopes", "decision"):
            single(form, name)  # refuse a repeated field now rather than pick one later
    except OAuthError as exc:
        return {}, exc.error_description
    return form, None


def first(form: Params, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
