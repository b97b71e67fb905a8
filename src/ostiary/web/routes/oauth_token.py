"""RFC 6749 §3.2 and §5: the token endpoint over HTTP — a URL-encoded form in, JSON out.

The route only adapts: the core (oauth2/endpoints/token.py) refuses other media types and repeated
parameters (SEC-69), authenticates the client (`WWW-Authenticate` on a Basic failure, SEC-33),
picks the grant and answers with `Cache-Control: no-store` (SEC-40), success or error.

The password grant also gets the per-IP limit of the sign-in form (`OSTIARY_RATE_LIMIT_LOGIN_PER_IP`):
the account lockout inside `PasswordLogin` slows guessing on one account, this slows spraying many.

CORS: the one middleware allowlist (`OSTIARY_CORS_ORIGINS`) applies to every path, this one
included, so an allowlisted SPA (a public client) can call it; see docs/oauth.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ostiary.core.errors import RateLimited
from ostiary.oauth2.errors import NO_STORE_HEADERS, OAuthError
from ostiary.web.deps import services_of
from ostiary.web.json_response import JsonResponse
from ostiary.web.meta import request_meta
from ostiary.web.oauth_http import oauth_error_json, to_oauth_request, token_response
from ostiary.web.policy_marks import policy
from ostiary.web.routes.oauth_authorize import oauth_of

router = APIRouter(include_in_schema=False)

TOKEN_PATH = "/token"


@router.post(TOKEN_PATH)
@policy("public")
async def token(request: Request) -> Response:
    services = services_of(request)
    try:
        oauth_request = await to_oauth_request(request)
    except OAuthError as exc:
        return oauth_error_json(exc)
    if oauth_request.form.get("grant_type") == ["password"]:
        try:
            ip = request_meta(request).ip
            await services.limiter.hit(services.settings.rate_limit_login_per_ip, "login-ip", ip)
        except RateLimited as exc:
            body = {"error": "invalid_request", "error_description": "Too many sign-in attempts."}
            headers = {**NO_STORE_HEADERS, "Retry-After": str(exc.retry_after)}
            return JsonResponse(body, status_code=429, headers=headers)
    services.tokens.key_refresher.poke()  # a rotation made elsewhere is picked up soon
    return token_response(await oauth_of(request).token_endpoint.handle(oauth_request))
