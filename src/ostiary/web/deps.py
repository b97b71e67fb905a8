"""Request-scoped dependencies: services, the authenticated caller, CSRF (request metadata: web/meta.py).

All async (no threadpool hop on the hot path). The resolved caller is cached on request.state so
several dependencies in one request share one lookup.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ostiary.authn.principals import Authenticated
from ostiary.compose.services import Services
from ostiary.core.errors import Forbidden, NotAuthenticated
from ostiary.web.bearer import API_KEY_HEADER, authenticate_header, bearer_failure, refuse_key_in_query
from ostiary.web.cookies import CookiePolicy
from ostiary.web.csrf import SAFE_METHODS, check_origin, presented_token
from ostiary.web.meta import request_meta
from ostiary.web.payload import is_form

_UNSET: Any = object()


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def cookies_of(request: Request) -> CookiePolicy:
    policy: CookiePolicy = request.app.state.cookies
    return policy


async def optional_auth(request: Request) -> Authenticated | None:
    # The per-request state dict behind `request.state`, read directly: `getattr(request.state, …)`
    # raises and catches an AttributeError on every first call (this runs on every protected request).
    state: dict[str, Any] = request.scope.setdefault("state", {})
    cached = state.get("auth", _UNSET)
    if cached is not _UNSET:
        result: Authenticated | None = cached
        return result
    services = services_of(request)
    found: Authenticated | None = None
    authorization = request.headers.get("authorization")
    api_key = request.headers.get(API_KEY_HEADER)
    if request.scope.get("query_string"):  # SEC-52: a key in the URL refuses the request
        await refuse_key_in_query(request, services, request_meta(request))
    if authorization is not None or api_key is not None:  # a header first; the cookie is then ignored
        found = await authenticate_header(request, services, authorization, api_key)
    else:
        session_id = request.cookies.get(cookies_of(request).session_name)
        if session_id:
            record = await services.sessions.load(session_id, request_meta(request))
            if record is not None:
                found = await services.principals.for_session(record)
    state["auth"] = found
    return found


async def require_auth(request: Request) -> Authenticated:
    found = await optional_auth(request)
    if found is None:
        raise bearer_failure(request) or NotAuthenticated()
    return found


async def verify_csrf(request: Request, auth: Authenticated | None, form_token: str | None = None) -> None:
    """Unsafe requests authenticated by a session cookie need the session's CSRF token (SEC-13)."""
    if request.method in SAFE_METHODS:
        return
    check_origin(request, request.app.state.allowed_origins)
    if auth is None or auth.session is None:
        return
    if form_token is None and is_form(request):
        value = (await request.form()).get("csrf_token")  # Starlette caches the parsed form
        form_token = value if isinstance(value, str) else None
    if not services_of(request).sessions.csrf_valid(auth.session, presented_token(request, form_token)):
        raise Forbidden("Missing or invalid CSRF token.", code="csrf_failed")


async def require_user_csrf(request: Request) -> Authenticated:
    """The usual guard of a state-changing JSON endpoint: logged in, and CSRF-checked."""
    auth = await require_auth(request)
    await verify_csrf(request, auth)
    return auth
