"""The MFA step between a correct password and a session or token pair (SEC-49), at the HTTP edge.

`/auth/login` and `/auth/token` call `mfa_required` for a user with MFA instead of creating a session
or tokens: JSON callers get `200 {"mfa_required": true, "mfa_token", "expires_in", "methods"}`
(`Cache-Control: no-store`), browsers the MFA page. The shapes are documented in docs/mfa.md.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ostiary.storage.interfaces.users import UserRecord
from ostiary.web.deps import services_of
from ostiary.web.meta import request_meta
from ostiary.web.pages_render import render_with_form_token

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MFA_PATH = "/auth/login/mfa"


async def mfa_required(
    request: Request, user: UserRecord, *, purpose: str, next_url: str = "/", form: bool = False
) -> Response:
    started = await services_of(request).mfa.login.begin(user, request_meta(request), purpose=purpose)
    if form:
        return render_mfa_page(request, mfa_token=started.token, next_url=next_url)
    return JSONResponse(started.body(), headers=NO_STORE)


def render_mfa_page(
    request: Request,
    *,
    mfa_token: str,
    next_url: str,
    error: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> HTMLResponse:
    response = render_with_form_token(
        request, "mfa.html", status=status, mfa_token=mfa_token, next_url=next_url, error=error
    )
    if retry_after:
        response.headers["retry-after"] = str(retry_after)
    return response
