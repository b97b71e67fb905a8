"""Server-rendered pages (Jinja2, autoescaped, no third-party assets, CSP-nonced)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ostiary.web.deps import cookies_of
from ostiary.web.middleware.security_headers import csp_nonce

TEMPLATES = Path(__file__).with_name("templates")


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)

_env.filters["utc"] = _utc


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(nonce=csp_nonce(request) or "", request=request, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def render_with_form_token(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Pages with a pre-session form get a fresh signed token in the form and the csrftoken cookie."""
    token = request.app.state.pre_session_csrf.issue()
    response = render(request, template, status=status, csrf_token=token, **context)
    cookies_of(request).set_csrf(response, token)
    return response


MAX_LOGIN_HINT = 320  # an email address's limit (RFC 5321), the longest login identifier we take


def login_hint(value: str | None) -> str:
    """OIDC Core §3.1.2.1 `login_hint`, for pre-filling the login form's identifier: kept only when
    it could be one (printable, at most `MAX_LOGIN_HINT` characters), else ignored. It only fills a
    field the user sees and can change; the template escapes it."""
    hint = (value or "").strip()
    if len(hint) > MAX_LOGIN_HINT or not hint.isprintable():
        return ""
    return hint


def render_login(
    request: Request,
    *,
    error: str | None = None,
    next_url: str = "/",
    username: str = "",
    status: int = 200,
    retry_after: int | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    response = render_with_form_token(
        request,
        "login.html",
        status=status,
        error=error,
        next_url=next_url,
        username=username,
        notice=notice,
        demo=request.app.state.demo_users,
        magic_link=request.app.state.services.email.magic_link is not None,  # off: no link to it
    )
    if retry_after:
        response.headers["retry-after"] = str(retry_after)
    return response
