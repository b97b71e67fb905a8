"""OpenID Connect Core §5.3 with RFC 6750 §2–3 over HTTP: the UserInfo endpoint.

GET|POST /userinfo   the access token in `Authorization: Bearer` (GET or POST), or as the
                     `access_token` field of a URL-encoded POST body (RFC 6750 §2.2) — never in the
                     query string (§2.3 is refused: URIs end up in logs and histories)

200 with the claims the token's scopes release (OIDC Core §5.4), `sub` being the ID token's; errors
per RFC 6750 §3 with their `WWW-Authenticate` challenge: no token → 401 with a bare challenge, an
invalid, expired or revoked token (or an ID or refresh token) → 401 `invalid_token`, a token
without `openid` → 403 `insufficient_scope`, a malformed request → 400 `invalid_request` (SEC-45).
Every answer is `no-store`. The browser session cookie plays no part: only the token counts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ostiary.oauth2.errors import OAuthError
from ostiary.oidc.userinfo import InvalidBearerRequest
from ostiary.web.json_response import JsonResponse
from ostiary.web.oauth_http import to_oauth_request
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_introspection import endpoints_of
from ostiary.web.routes.oauth_metadata import USERINFO_PATH

router = APIRouter(include_in_schema=False)


@router.api_route(USERINFO_PATH, methods=["GET", "POST"])
@policy("public")  # the access token is checked by the protocol core, not by a session
async def userinfo(request: Request) -> Response:
    try:
        oauth_request = await to_oauth_request(request)
    except OAuthError as exc:
        # Bad UTF-8 or a repeated Authorization header: RFC 6750 §3.1 `invalid_request`, challenged.
        error = InvalidBearerRequest(exc.error_description)
        return JsonResponse(error.to_json(), status_code=error.status, headers=error.headers)
    result = await endpoints_of(request).userinfo.handle(oauth_request)
    return JsonResponse(result.body, status_code=result.status, headers=dict(result.headers))
