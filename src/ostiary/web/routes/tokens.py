"""First-party token endpoints (docs/tokens.md): password → token pair, refresh, revoke, families, JWKS.

`POST /auth/token` shares `/auth/login`'s rate limits, lockout, generic errors and audit (it calls
the same `PasswordLogin.authenticate`). Token responses carry `Cache-Control: no-store` (SEC-40).

Cookie mode (browsers, seed 003): `{"cookie": true}` in the JSON body makes the refresh token an
HttpOnly, SameSite=Strict cookie limited to Path=/auth/token (refresh and revoke only), Secure over
HTTPS; it is then absent from the body. Cookie-based refresh and revoke need a CSRF proof besides
the Origin check: the `X-CSRF-Token` header must equal the value sent with the cookie (in the body
as `csrf_token` and in the script-readable `ostiary_refresh_csrf` cookie), an HMAC of the current
refresh token under an instance-secret subkey. A cross-site page can neither read that value nor
set a custom header without a CORS preflight, which ostiary grants only to allowlisted origins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from prometheus_client import CollectorRegistry, Counter
from starlette.responses import JSONResponse, Response

from ostiary.authn.lockout import Lockout
from ostiary.authn.principals import Authenticated
from ostiary.core.errors import Forbidden, NotFound, ValidationFailed
from ostiary.core.secrets import constant_time_equals, hmac_sha256_hex
from ostiary.tokens.bearer import BearerAuthenticated
from ostiary.tokens.refresh import InvalidGrant
from ostiary.tokens.service import TokenPair
from ostiary.web.csrf import CSRF_HEADER, check_origin
from ostiary.web.deps import require_auth, require_user_csrf, services_of
from ostiary.web.meta import request_meta
from ostiary.web.mfa_step import mfa_required
from ostiary.web.middleware.request_id import request_id
from ostiary.web.payload import media_type, parse_json_object
from ostiary.web.policy_marks import policy

router = APIRouter(tags=["tokens"])

TOKEN_PATH = "/auth/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REFRESH_CSRF_COOKIE = "ostiary_refresh_csrf"
MAX_BODY_FIELD = 4096


@dataclass(frozen=True)
class RefreshCookies:
    secure: bool

    @property
    def name(self) -> str:
        # `__Host-` needs Path=/; `__Secure-` still stops an http:// page from setting it.
        return "__Secure-ostiary_refresh" if self.secure else "ostiary_refresh"

    def set(self, response: Response, refresh_token: str, csrf: str, max_age: int) -> None:
        response.set_cookie(
            self.name,
            refresh_token,
            max_age=max_age,
            path=TOKEN_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
        response.set_cookie(
            REFRESH_CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=self.secure, samesite="strict"
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name, path=TOKEN_PATH, secure=self.secure, httponly=True, samesite="strict"
        )
        response.delete_cookie(REFRESH_CSRF_COOKIE, path="/", secure=self.secure, samesite="strict")


class TokenMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refresh_early = Counter(
            "ostiary_token_refresh_early_total",
            "Refreshes while the family's last access token was still valid (seed 003 warning).",
            registry=registry,
        )
        self.reuse = Counter(
            "ostiary_token_refresh_failed_total", "Refused refresh-token presentations.", registry=registry
        )


def _metrics(request: Request) -> TokenMetrics:
    state = request.app.state
    metrics: TokenMetrics | None = getattr(state, "token_metrics", None)
    if metrics is None:
        metrics = state.token_metrics = TokenMetrics(state.metrics_registry)
    return metrics


def _cookies(request: Request) -> RefreshCookies:
    return RefreshCookies(secure=services_of(request).settings.secure_cookies)


def _csrf_for(request: Request, refresh_token: str) -> str:
    key = services_of(request).secret.derive("refresh-cookie-csrf")
    return hmac_sha256_hex(key, refresh_token)


async def _json_body(request: Request) -> dict[str, Any]:
    """A JSON object body (or none). Unlike web/payload.py, booleans are allowed (`cookie`)."""
    raw = await request.body()
    if not raw:
        return {}
    if media_type(request) != "application/json":
        raise ValidationFailed("Send the body as application/json.", code="unsupported_media_type")
    return parse_json_object(raw)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_BODY_FIELD:
        raise ValidationFailed(f"The field '{name}' must be a string.", field=name)
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise ValidationFailed(f"The field '{name}' must be an object.", field=name)
    return value


def _token_response(request: Request, pair: TokenPair, *, cookie: bool) -> Response:
    body = pair.body(include_refresh=not cookie)
    if not cookie:
        return JSONResponse(body, headers=NO_STORE)
    csrf = _csrf_for(request, pair.refresh_token)
    body["csrf_token"] = csrf
    response = JSONResponse(body, headers=NO_STORE)
    max_age = services_of(request).settings.refresh_idle_seconds
    _cookies(request).set(response, pair.refresh_token, csrf, max_age)
    return response


@router.post(TOKEN_PATH)
@policy("public")
async def issue_tokens(request: Request) -> Response:
    services = services_of(request)
    settings = services.settings
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    body = await _json_body(request)
    username = _text(body, "username") or ""
    cookie = body.get("cookie", False)
    if not isinstance(cookie, bool):
        raise ValidationFailed("The field 'cookie' must be true or false.", field="cookie")
    await services.limiter.hit(settings.rate_limit_login_per_ip, "login-ip", meta.ip)
    await services.limiter.hit(
        settings.rate_limit_login_per_ip_user, "login-ip-user", meta.ip, Lockout.key_for(username)
    )
    mfa_token = _text(body, "mfa_token")
    if mfa_token is not None:  # the second step of an MFA login (docs/mfa.md)
        done = await services.mfa.login.complete(
            mfa_token,
            meta,
            purpose="token",
            code=_text(body, "code"),
            recovery_code=_text(body, "recovery_code"),
            passkey=_object(body, "passkey"),  # options from /auth/login/mfa/passkey/options
        )
        user = done.user
    else:
        user = await services.login.authenticate(username, _text(body, "password") or "", meta)
        if user.mfa_enabled:  # no tokens before the second factor (SEC-49)
            return await mfa_required(request, user, purpose="token")
    services.tokens.key_refresher.poke()
    pair = await services.tokens.service.login(
        user.id, meta, auth_time=services.clock.now(), requested_scope=_text(body, "scope")
    )
    return _token_response(request, pair, cookie=cookie)


def _presented(request: Request, body: dict[str, Any]) -> tuple[str | None, bool]:
    """(refresh token, from the cookie?). A body token wins; the cookie needs the CSRF header."""
    in_body = _text(body, "refresh_token")
    if in_body is not None:
        return in_body, False
    in_cookie = request.cookies.get(_cookies(request).name)
    if in_cookie is None:
        return None, False
    presented = request.headers.get(CSRF_HEADER) or ""
    if not constant_time_equals(presented, _csrf_for(request, in_cookie)):
        raise Forbidden("Missing or invalid CSRF token.", code="csrf_failed")
    return in_cookie, True


@router.post(f"{TOKEN_PATH}/refresh")
@policy("public")
async def refresh_tokens(request: Request) -> Response:
    services = services_of(request)
    meta = request_meta(request)
    check_origin(request, request.app.state.allowed_origins)
    await services.limiter.hit(services.settings.rate_limit_refresh_per_ip, "refresh-ip", meta.ip)
    presented, from_cookie = _presented(request, await _json_body(request))
    if presented is None:
        raise ValidationFailed("The field 'refresh_token' is required.", field="refresh_token")
    services.tokens.key_refresher.poke()
    try:
        pair = await services.tokens.service.refresh(presented, meta)
    except InvalidGrant as exc:
        _metrics(request).reuse.inc()
        if not from_cookie:
            raise
        response = JSONResponse(
            {"error": exc.code, "message": exc.message, "request_id": request_id(request)},
            status_code=exc.status,
            headers=NO_STORE,
        )
        _cookies(request).clear(response)
        return response
    if pair.early:
        _metrics(request).refresh_early.inc()
    return _token_response(request, pair, cookie=from_cookie)


@router.post(f"{TOKEN_PATH}/revoke")
@policy("public")
async def revoke_tokens(request: Request) -> Response:
    """RFC 7009 §2.2: 200 whether or not the token was known; its whole family is revoked."""
    services = services_of(request)
    check_origin(request, request.app.state.allowed_origins)
    presented, from_cookie = _presented(request, await _json_body(request))
    if presented is not None:
        await services.tokens.refresh.revoke(presented, request_meta(request))
    response = JSONResponse({"status": "revoked"}, headers=NO_STORE)
    if from_cookie:
        _cookies(request).clear(response)
    return response


def _family_json(family: Any, current: str | None) -> dict[str, Any]:
    return {
        "id": family.id,
        "client_id": family.client_id,
        "device": family.device,
        "created_at": family.created_at,
        "last_used_at": family.last_used_at,
        "expires_at": family.expires_at,
        "current": family.id == current,
    }


@router.get(f"{TOKEN_PATH}/families")
@policy("authenticated")
async def list_families(request: Request, auth: Authenticated = Depends(require_auth)) -> Response:
    current = auth.family_id if isinstance(auth, BearerAuthenticated) else None
    families = await services_of(request).tokens.refresh.families(auth.user.id)
    return JSONResponse(
        {"families": [_family_json(f, current) for f in families]}, headers={"Cache-Control": "no-store"}
    )


@router.post(f"{TOKEN_PATH}/families/{{family_id}}/revoke", status_code=204, response_model=None)
@policy("authenticated")
async def revoke_family(
    family_id: str, request: Request, auth: Authenticated = Depends(require_user_csrf)
) -> Response:
    services = services_of(request)
    # Scoped to the caller: another user's family id is simply not found (SEC-56).
    if not await services.tokens.refresh.revoke_family(family_id, reason="user", user_id=auth.user.id):
        raise NotFound("No such token family.")
    await services.auditor.record(
        "token.family_revoke",
        request_meta(request),
        actor=auth.user.id,
        subject=auth.user.id,
        family=family_id,
    )
    return Response(status_code=204)


@router.get("/.well-known/jwks.json")
@policy("public")
async def jwks(request: Request) -> Response:
    tokens = services_of(request).tokens
    tokens.key_refresher.poke()
    return JSONResponse(tokens.keys.ring().jwks(), headers={"Cache-Control": "public, max-age=300"})
