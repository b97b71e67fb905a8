"""RFC 7662 §2 and RFC 7009 §2 over HTTP: token introspection and revocation.

POST /introspect   an authenticated client asks about a token: the core answers the token's view,
                   or exactly `{"active": false}` whatever the reason (RFC 7662 §2.2, SEC-36)
POST /revoke       a client revokes a token issued to it; always 200 for a well-formed, authenticated
                   request (RFC 7009 §2.2), so nothing is learnt about other clients' tokens

Both take a URL-encoded form only, refuse repeated parameters (SEC-69), authenticate the client as
the token endpoint does (401 `invalid_client` with `WWW-Authenticate` for Basic, SEC-33) and answer
with `Cache-Control: no-store` (SEC-40). The routes only adapt; the cores are in
oauth2/endpoints/introspection.py and revocation.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ostiary.compose.oauth_endpoints import OAuthEndpoints
from ostiary.oauth2.errors import OAuthError
from ostiary.web.oauth_http import oauth_error_json, to_oauth_request, token_response
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_metadata import INTROSPECTION_PATH, REVOCATION_PATH

router = APIRouter(include_in_schema=False)


def endpoints_of(request: Request) -> OAuthEndpoints:
    """The endpoints `create_app` built beside the OAuth wiring (compose/oauth_endpoints.py)."""
    endpoints: OAuthEndpoints | None = getattr(request.app.state, "oauth_endpoints", None)
    if endpoints is None:
        raise RuntimeError("these routes are mounted only when services.oauth is set")
    return endpoints


@router.post(INTROSPECTION_PATH)
@policy("public")  # the caller is a client, authenticated by the protocol core (RFC 7662 §2.1)
async def introspect(request: Request) -> Response:
    try:
        oauth_request = await to_oauth_request(request)
    except OAuthError as exc:
        return oauth_error_json(exc)
    return token_response(await endpoints_of(request).introspection.handle(oauth_request))


@router.post(REVOCATION_PATH)
@policy("public")  # the caller is a client, authenticated by the protocol core (RFC 7009 §2.1)
async def revoke(request: Request) -> Response:
    try:
        oauth_request = await to_oauth_request(request)
    except OAuthError as exc:
        return oauth_error_json(exc)
    return token_response(await endpoints_of(request).revocation.handle(oauth_request))
