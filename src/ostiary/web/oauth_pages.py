"""The pages of the authorization endpoint: the error page, the consent page, the return page.

- Error page (RFC 6749 §4.1.2.1, SEC-24): for errors found before the client and its redirect URI
  are trusted. It names the error and never links or redirects to the URI that was sent.
- Consent page (OIDC Core §3.1.2.4, SEC-41): the client's name, each scope in words (protocol scopes
  from a small table; a permission by its description from the RBAC data, else by its name), how
  long the access lasts, Allow and Deny.
- Return page: after the login form, the last hop to the client is made by this page rather than by
  a redirect, because browsers apply the login page's `form-action 'self'` to every redirect that
  follows its submission, and a redirect to the client would be blocked (web/oauth_http.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from ostiary.oauth2.authorization import AuthorizationRequest
from ostiary.oauth2.errors import OAuthError
from ostiary.web.oauth_http import allow_form_action
from ostiary.web.pages_render import render

# OpenID Connect scopes (OIDC Core §5.4, §11) in the words a person reads on the consent page.
PROTOCOL_SCOPE_WORDS = {
    "openid": "Confirm who you are (your account's identifier)",
    "profile": "See your profile: name and username",
    "email": "See your email address and whether it is verified",
    "address": "See your postal address",
    "phone": "See your phone number",
    "offline_access": "Keep this access while you are away, until you revoke it",
}


@dataclass(frozen=True)
class ScopeWords:
    name: str
    description: str


def describe_scopes(scopes: tuple[str, ...], permission_descriptions: dict[str, str]) -> list[ScopeWords]:
    return [ScopeWords(s, PROTOCOL_SCOPE_WORDS.get(s) or permission_descriptions.get(s) or s) for s in scopes]


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def lifetime_words(request: AuthorizationRequest, scopes: tuple[str, ...], refresh_seconds: int) -> str:
    """How long the access lasts (SEC-41): the client's access-token lifetime, and the refresh-token
    families' absolute lifetime if a refresh token will come (the rule of compose/oauth_tokens.py)."""
    client = request.client
    text = f"Each access token it receives is valid for {_duration(client.lifetimes.access_token)}."
    # OIDC Core §11: for an OpenID request, only offline_access brings a refresh token.
    renewable = "refresh_token" in client.grant_types and (
        "offline_access" in scopes or "openid" not in scopes
    )
    if renewable:
        text += f" It can renew its access for up to {_duration(refresh_seconds)} unless you revoke it."
    return text


def redirect_origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def render_oauth_error(request: Request, error: OAuthError, *, status: int = 400) -> HTMLResponse:
    """SEC-24: shown on our page; the response has no Location header, whatever was asked."""
    return render(
        request, "oauth_error.html", status=status, error=error.error, description=error.error_description
    )


def render_consent(
    request: Request,
    authorization: AuthorizationRequest,
    *,
    username: str,
    scopes: list[ScopeWords],
    lifetime: str,
    csrf_token: str,
    sealed_request: str,
    shown_scopes: str,
) -> HTMLResponse:
    response = render(
        request,
        "consent.html",
        client_name=authorization.client.name or authorization.client.client_id,
        username=username,
        scopes=scopes,
        lifetime=lifetime,
        redirect_origin=redirect_origin(authorization.redirect_uri),
        csrf_token=csrf_token,
        sealed_request=sealed_request,
        shown_scopes=shown_scopes,
    )
    # Allow and Deny both end in a 303 to the client; the browser checks it against form-action.
    allow_form_action(response, request, authorization.redirect_uri)
    return response


def render_return_page(request: Request, location: str) -> HTMLResponse:
    return render(request, "oauth_continue.html", location=location)
