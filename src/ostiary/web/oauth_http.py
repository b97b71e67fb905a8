"""HTTP ⇄ the framework-free OAuth core: requests in, authorization and token responses out.

Routes stay thin (DESIGN.md): `to_oauth_request` builds the core's `OAuthRequest` (parameters kept
as lists so the core can refuse a repeated one, SEC-69), and the `*_response` helpers render what
the core returns.

Content-Security-Policy and the client's redirect URI: our pages send `form-action 'self'`, and
browsers apply `form-action` to every redirect that follows a form submission too. A page whose
form ends in a redirect to the client (the consent page) or posts to it (form_post) therefore gets
the client's origin added to `form-action`, and nothing else is loosened.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ostiary.oauth2.authorization_response import AuthorizationResponse
from ostiary.oauth2.endpoints.token import TokenResponse
from ostiary.oauth2.errors import InvalidRequest, OAuthError
from ostiary.oauth2.requests import FORM_CONTENT_TYPE, OAuthRequest, parse_media_type, parse_params
from ostiary.web.json_response import JsonResponse
from ostiary.web.middleware.client_ip import client_ip
from ostiary.web.middleware.security_headers import content_security_policy, csp_nonce

# A CSP source expression we are willing to build from a registered redirect URI.
_CSP_SOURCE = re.compile(r"[a-z][a-z0-9+.\-]*:(//([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?)?")


async def to_oauth_request(request: Request) -> OAuthRequest:
    """The request as the core sees it. A body is parsed only when it is a URL-encoded form; any
    other media type leaves the form empty and the core refuses it where a form is required.

    Read from the ASGI scope directly (the token endpoint and introspection are hot paths): header
    names arrive lower-cased, and both names and values are decoded as Starlette decodes them."""
    headers: dict[str, str] = {}
    authorizations = 0
    for raw_name, raw_value in request.scope["headers"]:
        name = raw_name.decode("latin-1")
        if name == "authorization":
            authorizations += 1
        headers.setdefault(name, raw_value.decode("latin-1"))  # the first, as Headers.get gives
    if authorizations > 1:
        raise InvalidRequest("The Authorization header is repeated.")  # which one would count?
    content_type = parse_media_type(headers.get("content-type", ""))
    raw_query = request.scope.get("query_string", b"")
    try:
        query = parse_params(raw_query.decode("latin-1")) if raw_query else {}
        form = parse_params(await request.body()) if content_type == FORM_CONTENT_TYPE else {}
    except UnicodeDecodeError:
        raise InvalidRequest("The request parameters must be UTF-8.") from None
    return OAuthRequest(
        method=request.method,
        form=form,
        query=query,
        headers=headers,
        client_ip=client_ip(request),
    )


def token_response(result: TokenResponse) -> Response:
    """RFC 6749 §5.1–5.2: JSON, `no-store`, and `WWW-Authenticate` when the core set one (SEC-33)."""
    return JsonResponse(result.body, status_code=result.status, headers=dict(result.headers))


def oauth_error_json(error: OAuthError) -> Response:
    return JsonResponse(error.to_json(), status_code=error.status, headers=error.headers)


def form_action_source(redirect_uri: str) -> str | None:
    """The CSP source that lets a form (or the redirect after it) reach `redirect_uri`."""
    parts = urlsplit(redirect_uri)
    scheme = parts.scheme.lower()
    # A native app's private-use scheme (RFC 8252 §7.1) is allowed as a scheme source.
    source = f"{scheme}://{parts.netloc.rpartition('@')[2]}" if scheme in ("http", "https") else f"{scheme}:"
    return source if _CSP_SOURCE.fullmatch(source) else None


def page_csp(nonce: str, redirect_uri: str) -> str:
    """Our page CSP with the redirect URI's origin added to `form-action`, and nothing else."""
    policy = content_security_policy(nonce).decode("ascii")
    source = form_action_source(redirect_uri)
    if source is None:
        return policy
    return policy.replace("form-action 'self'", f"form-action 'self' {source}", 1)


def allow_form_action(response: Response, request: Request, redirect_uri: str) -> None:
    nonce = csp_nonce(request)
    if nonce is not None:
        response.headers["content-security-policy"] = page_csp(nonce, redirect_uri)


def authorization_response(request: Request, result: AuthorizationResponse, redirect_uri: str) -> Response:
    """A 303 to the validated redirect URI (SEC-39), or the form_post page under a CSP that lets its
    nonce'd script submit the form to the client."""
    if result.location is not None:
        return Response(status_code=result.status, headers=dict(result.headers))
    response = Response(result.body, status_code=result.status, headers=dict(result.headers))
    allow_form_action(response, request, redirect_uri)
    return response
