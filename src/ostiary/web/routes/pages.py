"""The pages people see: login, registration and a small signed-in landing page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ostiary.web.deps import optional_auth, services_of
from ostiary.web.pages_render import login_hint, render, render_login, render_with_form_token
from ostiary.web.policy_marks import policy
from ostiary.web.redirects import safe_next
from ostiary.web.routes.sessions import handle_of

router = APIRouter(include_in_schema=False)


@router.get("/")
@policy("public")
async def home(request: Request) -> Response:
    auth = await optional_auth(request)
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    sessions = await services_of(request).sessions.list_user(auth.user.id)
    return render(
        request,
        "home.html",
        user=auth.user,
        principal=auth.principal,
        session=auth.session,
        sessions=[(handle_of(s), s) for s in sessions],
        csrf_token=auth.session.csrf_secret if auth.session else "",
        password_changed=request.query_params.get("password_changed") == "1",
    )


@router.get("/login")
@policy("public")
async def login_page(request: Request) -> HTMLResponse:
    notice = None
    if request.query_params.get("registered") == "1":
        notice = "If the details were available, your account is ready. Log in below."
    elif request.query_params.get("logged_out") == "1":
        notice = "You are logged out."
    elif request.query_params.get("reauth") == "1":  # from an account page (SEC-14)
        notice = "Sign in again to confirm it is you; you will go straight back."
    return render_login(
        request,
        next_url=safe_next(request.query_params.get("next")),
        username=login_hint(request.query_params.get("login_hint")),  # from /authorize
        notice=notice,
    )


@router.get("/register")
@policy("public")
async def register_page(request: Request) -> HTMLResponse:
    settings = services_of(request).settings
    return render_with_form_token(request, "register.html", min_length=settings.password_min_length)
