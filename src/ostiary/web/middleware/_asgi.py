"""Small ASGI helpers shared by the middleware: per-request state, header lookup, JSON answers.

Kept private to the package so that each middleware stays a plain ASGI class with no base class.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.routing import Mount
from starlette.types import Scope, Send

JSON_CONTENT_TYPE = b"application/json; charset=utf-8"


def state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict that Starlette exposes as `request.state`.

    `setdefault` keeps whatever the server already put there (lifespan state is copied into it).
    """
    value: dict[str, Any] = scope.setdefault("state", {})
    return value


def scope_of(scope_or_request: Any) -> Scope:
    """Accept a raw ASGI scope or anything carrying one (Starlette `Request`, `WebSocket`)."""
    inner = getattr(scope_or_request, "scope", None)
    return inner if inner is not None else scope_or_request  # type: ignore[no-any-return]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (`name` lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def header_values(scope: Scope, name: bytes) -> list[bytes]:
    """Every value of a request header, in the order received (`name` lower-case)."""
    return [bytes(value) for key, value in scope.get("headers", ()) if key == name]


async def send_json_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    request_id: str | None,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with the one error shape every middleware and the error handler share."""
    body = json.dumps(
        {"error": code, "message": message, "request_id": request_id}, ensure_ascii=True
    ).encode("ascii")
    headers = [
        (b"content-type", JSON_CONTENT_TYPE),
        (b"content-length", str(len(body)).encode("ascii")),
        # Error answers are per-request; a shared cache must never replay one to someone else.
        (b"cache-control", b"no-store"),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def route_template(scope: Scope) -> str | None:
    """The path template of the matched route (`/clients/{client_id}`), None when nothing matched.

    Starlette's router stores the matched route in the shared scope, so this is only meaningful
    after the app has returned. A `Mount` records the original `root_path` as `app_root_path` and
    appends its own prefix to `root_path`; the difference is the mount prefix of the template.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if route is None or not isinstance(template, str):
        return None
    root_path = str(scope.get("root_path", ""))
    prefix = root_path[len(str(scope["app_root_path"])) :] if "app_root_path" in scope else ""
    if isinstance(route, Mount):
        # The innermost match is a mount of a non-router app (static files): its prefix is the route.
        return (prefix or template).rstrip("/") + "/{path}"
    return (prefix.rstrip("/") + template) or "/"
