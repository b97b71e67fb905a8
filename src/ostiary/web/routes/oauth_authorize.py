"""RFC 6749 §3.1 / §4.1.1–4.1.2 and OIDC Core §3.1.2: the authorization endpoint, login and consent.

GET|POST /authorize        validate (oauth2.authorization) → error page (SEC-24) | error redirect
                           → sign-in needed (no session, prompt=login, max_age)? → the login page
                           → the scopes this user may grant → consent needed? → consent page | code
GET  /authorize/continue   the login page's return-to: the same request, sealed and time-marked
POST /authorize/decision   Allow or Deny on the consent page (session CSRF token + Origin, SEC-13)

Answers go to the validated redirect URI only, with `state` and `iss` (SEC-26, SEC-38), as a 303
(SEC-39) or a form_post page; every answer is `no-store`. `prompt=none` never shows a page: it
answers `login_required` or `consent_required` (OIDC Core §3.1.2.6, SEC-41).
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from ostiary.compose.oauth import OAuthWiring
from ostiary.oauth2.authorization import (
    AuthorizationRequest,
    PageError,
    RedirectError,
    validate_authorization_request,
)
from ostiary.oauth2.authorization_decision import approve_authorization, error_response
from ostiary.oauth2.authorization_response import AuthorizationResponse
from ostiary.oauth2.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    OAuthError,
)
from ostiary.oauth2.requests import Params, authorization_request_params, single
from ostiary.oauth2.scopes import intersect, parse_scope
from ostiary.storage.interfaces.sessions import SessionRecord
from ostiary.web.csrf import check_origin
from ostiary.web.deps import optional_auth, services_of, verify_csrf
from ostiary.web.meta import request_meta
from ostiary.web.middleware.security_headers import csp_nonce
from ostiary.web.oauth_http import authorization_response, to_oauth_request
from ostiary.web.oauth_pages import (
    describe_scopes,
    lifetime_words,
    render_consent,
    render_oauth_error,
    render_return_page,
)
from ostiary.web.oauth_pending import (
    CONSENT_TTL_SECONDS,
    MAX_SEALED_LENGTH,
    RESUME_TTL_SECONDS,
    PendingRequests,
)
from ostiary.web.pages_render import login_hint
from ostiary.web.policy_marks import policy

router = APIRouter(include_in_schema=False)

AUTHORIZE_PATH = "/authorize"
CONTINUE_PATH = "/authorize/continue"
DECISION_PATH = "/authorize/decision"
LOGIN_PATH = "/login"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
EXPIRED = "This sign-in request has expired. Return to the application and start again."


def oauth_of(request: Request) -> OAuthWiring:
    wiring = services_of(request).oauth
    if wiring is None:
        raise RuntimeError("OAuth routes are mounted only when services.oauth is set")
    return wiring


def pending_of(request: Request) -> PendingRequests:
    state = request.app.state
    pending: PendingRequests | None = getattr(state, "oauth_pending", None)
    if pending is None:
        wiring = oauth_of(request)
        pending = state.oauth_pending = PendingRequests(wiring.pending_key, wiring.clock)
    return pending


@router.api_route(AUTHORIZE_PATH, methods=["GET", "POST"])
@policy("public")
async def authorize(request: Request) -> Response:
    try:
        params = authorization_request_params(await to_oauth_request(request))
    except OAuthError as exc:  # nothing is validated yet: our page, never a redirect (SEC-24)
        return render_oauth_error(request, exc)
    return await answer(request, params, signed_in_after=None)


@router.get(CONTINUE_PATH)
@policy("public")
async def continue_after_login(request: Request) -> Response:
    sealed = request.query_params.get("request")
    pending = pending_of(request).open(sealed, "resume", ttl=RESUME_TTL_SECONDS)
    if pending is None:
        return render_oauth_error(request, InvalidRequest(EXPIRED))
    return await answer(request, pending.params, signed_in_after=pending.issued_at)


def must_sign_in(
    checked: AuthorizationRequest, session: SessionRecord, signed_in_after: int | None, now: float
) -> bool:
    """prompt=login and max_age ask for a sign-in; one made after the request asked satisfies both
    (else the login page would loop: with max_age=0 no session is ever young enough)."""
    if signed_in_after is not None and session.auth_time >= signed_in_after:
        return False
    if "login" in checked.prompt:
        return True
    return checked.max_age is not None and now - session.auth_time > checked.max_age


async def answer(request: Request, params: Params, *, signed_in_after: int | None) -> Response:
    """The whole endpoint after parsing; `signed_in_after` is set when the login page sent us back."""
    wiring = oauth_of(request)
    nonce = csp_nonce(request)
    after_login = signed_in_after is not None
    checked = await validate_authorization_request(params, wiring.clients, issuer=wiring.issuer)
    if isinstance(checked, PageError):
        return render_oauth_error(request, checked.error, status=checked.status)
    if isinstance(checked, RedirectError):
        return deliver(request, checked.response(script_nonce=nonce), checked.redirect_uri, after_login)

    def fail(error: OAuthError) -> Response:
        result = error_response(checked, error, wiring.issuer, script_nonce=nonce)
        return deliver(request, result, checked.redirect_uri, after_login)

    auth = await optional_auth(request)
    session = auth.session if auth is not None else None
    if auth is None or session is None or must_sign_in(checked, session, signed_in_after, wiring.clock.now()):
        if "none" in checked.prompt:
            return fail(LoginRequired())
        return_to = f"{CONTINUE_PATH}?{urlencode({'request': pending_of(request).seal(params, 'resume')})}"
        if len(return_to) > MAX_SEALED_LENGTH:
            return fail(InvalidRequest("The authorization request is too long."))
        login = {"next": return_to, "login_hint": login_hint(checked.login_hint)}  # OIDC Core §3.1.2.1
        query = urlencode({name: value for name, value in login.items() if value})
        return RedirectResponse(f"{LOGIN_PATH}?{query}", 303, headers=NO_STORE)

    scopes = await wiring.users.grantable_scopes(auth.user.id, checked.scope) or ()
    if not scopes:
        return fail(InvalidScope("None of the requested scopes can be granted to this user."))
    if await needs_consent(wiring, checked, auth.user.id, scopes):
        if "none" in checked.prompt:
            return fail(ConsentRequired())  # never a silent grant (SEC-41)
        return await consent_page(request, checked, params, session, auth.user.username, scopes)
    result = await approve(request, checked, session)
    return deliver(request, result, checked.redirect_uri, after_login)


async def needs_consent(
    wiring: OAuthWiring, checked: AuthorizationRequest, user_id: str, scopes: tuple[str, ...]
) -> bool:
    if "consent" in checked.prompt:
        return True
    if checked.client.first_party:
        return False
    remembered = await wiring.consents.get(user_id, checked.client.client_id)
    return remembered is None or not set(scopes) <= set(remembered.scopes)


async def consent_page(
    request: Request,
    checked: AuthorizationRequest,
    params: Params,
    session: SessionRecord,
    username: str,
    scopes: tuple[str, ...],
) -> Response:
    services = services_of(request)
    permissions = (await services.rbac.snapshot()).permissions  # name → description
    shown = " ".join(scopes)
    # Bound to this session and to the scopes on the page: the decision grants no more than shown.
    sealed = pending_of(request).seal(params, "consent", binding=f"{session.digest}|{shown}")
    return render_consent(
        request,
        checked,
        username=username,
        scopes=describe_scopes(scopes, permissions),
        lifetime=lifetime_words(checked, scopes, oauth_of(request).tokens.refresh.config.absolute_seconds),
        csrf_token=session.csrf_secret,
        sealed_request=sealed,
        shown_scopes=shown,
    )


async def approve(
    request: Request, checked: AuthorizationRequest, session: SessionRecord
) -> AuthorizationResponse:
    wiring = oauth_of(request)
    return await approve_authorization(
        checked,
        user_id=session.user_id,
        auth_time=session.auth_time,
        codes=wiring.codes,
        issuer=wiring.issuer,
        amr=session.amr,
        sid=wiring.session_sid(session.digest),
        user_scope_filter=wiring.users.user_scope_filter,  # re-checked at the moment of issue
        script_nonce=csp_nonce(request),
    )


def deliver(
    request: Request, result: AuthorizationResponse, redirect_uri: str, after_login: bool = False
) -> Response:
    """A 303 or form_post page; right after the login form, a page that makes the last hop, since
    the login page's `form-action 'self'` would block a redirect chain ending at the client."""
    if after_login and result.location is not None:
        return render_return_page(request, result.location)
    return authorization_response(request, result, redirect_uri)


@router.post(DECISION_PATH)
@policy("authenticated")
async def decide(request: Request) -> Response:
    wiring = oauth_of(request)
    check_origin(request, request.app.state.allowed_origins)
    auth = await optional_auth(request)
    if auth is None or auth.session is None:
        return render_oauth_error(request, LoginRequired("Your session has ended. " + EXPIRED), status=401)
    try:
        form = (await to_oauth_request(request)).form
        fields = {name: single(form, name) or "" for name in ("csrf_token", "request", "scopes", "decision")}
    except OAuthError as exc:
        return render_oauth_error(request, exc)
    await verify_csrf(request, auth, fields["csrf_token"])
    session, shown = auth.session, fields["scopes"]
    binding = f"{session.digest}|{shown}"
    pending = pending_of(request).open(fields["request"], "consent", ttl=CONSENT_TTL_SECONDS, binding=binding)
    if pending is None:
        return render_oauth_error(request, InvalidRequest(EXPIRED))
    # Validated again in full: the client may have been changed or disabled since the page was shown.
    checked = await validate_authorization_request(pending.params, wiring.clients, issuer=wiring.issuer)
    nonce = csp_nonce(request)
    if isinstance(checked, PageError):
        return render_oauth_error(request, checked.error, status=checked.status)
    if isinstance(checked, RedirectError):
        return deliver(request, checked.response(script_nonce=nonce), checked.redirect_uri)
    if fields["decision"] not in ("allow", "deny"):
        return render_oauth_error(request, InvalidRequest("Choose Allow or Deny."))
    user_id, client_id = auth.user.id, checked.client.client_id
    audit = services_of(request).auditor
    if fields["decision"] == "deny":
        await audit.record(
            "oauth.consent_denied", request_meta(request), actor=user_id, subject=user_id, client_id=client_id
        )
        denied = AccessDenied("The user denied the request.")
        return deliver(
            request, error_response(checked, denied, wiring.issuer, script_nonce=nonce), checked.redirect_uri
        )
    grantable = await wiring.users.grantable_scopes(user_id, checked.scope) or ()
    scopes = intersect(grantable, parse_scope(shown))  # never more than the page showed
    if scopes:
        await wiring.consents.grant(user_id, client_id, scopes, at=wiring.clock.now())
        await audit.record(
            "oauth.consent_granted",
            request_meta(request),
            actor=user_id,
            subject=user_id,
            client_id=client_id,
            scope=" ".join(scopes),
        )
    result = await approve(request, replace(checked, scope=scopes), session)
    return deliver(request, result, checked.redirect_uri)
