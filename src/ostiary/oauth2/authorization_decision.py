"""RFC 6749 §4.1.2 / §4.1.2.1: answering a validated authorization request — a code, or an error.

The web layer calls these once the user is signed in and has consented (or the client is
first-party, or `prompt=none` found an existing consent). Granted scopes are
requested ∩ client-allowed (done by validation) ∩ what the user may grant (`user_scope_filter`,
typically the policy engine's permissions plus the protocol scopes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ostiary.oauth2.authorization import AuthorizationRequest
from ostiary.oauth2.authorization_response import AuthorizationResponse, build_authorization_response
from ostiary.oauth2.codes import AuthorizationCodeIssuer
from ostiary.oauth2.errors import AccessDenied, ConsentRequired, InvalidScope, LoginRequired, OAuthError
from ostiary.oauth2.scopes import intersect

# (user_id, scopes the client asked for and may have) → the subset this user may grant.
UserScopeFilter = Callable[[str, tuple[str, ...]], Awaitable[Iterable[str]]]


def error_response(
    request: AuthorizationRequest, error: OAuthError, issuer: str, *, script_nonce: str | None = None
) -> AuthorizationResponse:
    """Any error after validation: to the validated redirect URI, with `state` and `iss` (SEC-26)."""
    params = {**error.to_redirect_params(), "state": request.state}
    return build_authorization_response(
        request.redirect_uri, params, request.response_mode, issuer, script_nonce=script_nonce
    )


def deny_authorization(request: AuthorizationRequest, issuer: str) -> AuthorizationResponse:
    """The user pressed Deny on the consent page."""
    return error_response(request, AccessDenied("The user denied the request."), issuer)


def login_required(request: AuthorizationRequest, issuer: str) -> AuthorizationResponse:
    """`prompt=none` without a usable session (OIDC Core §3.1.2.6)."""
    return error_response(request, LoginRequired(), issuer)


def consent_required(request: AuthorizationRequest, issuer: str) -> AuthorizationResponse:
    """`prompt=none` with scopes not yet consented (SEC-41): never a silent grant."""
    return error_response(request, ConsentRequired(), issuer)


async def approve_authorization(
    request: AuthorizationRequest,
    *,
    user_id: str,
    auth_time: float,
    codes: AuthorizationCodeIssuer,
    issuer: str,
    amr: tuple[str, ...] = (),
    acr: str | None = None,
    sid: str | None = None,
    user_scope_filter: UserScopeFilter | None = None,
    script_nonce: str | None = None,
) -> AuthorizationResponse:
    """Issue a code bound to the request and the user, and build the response that carries it."""
    scope = request.scope
    if user_scope_filter is not None:
        scope = intersect(scope, await user_scope_filter(user_id, scope))
    if not scope:
        error = InvalidScope("None of the requested scopes can be granted to this user.")
        return error_response(request, error, issuer, script_nonce=script_nonce)
    issued = await codes.issue(
        client_id=request.client.client_id,
        user_id=user_id,
        redirect_uri=request.redirect_uri,
        redirect_uri_provided=request.redirect_uri_provided,
        scope=scope,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        auth_time=auth_time,
        amr=amr,
        acr=acr,
        nonce=request.nonce,
        sid=sid,
    )
    params = {"code": issued.code, "state": request.state}
    return build_authorization_response(
        request.redirect_uri, params, request.response_mode, issuer, script_nonce=script_nonce
    )
