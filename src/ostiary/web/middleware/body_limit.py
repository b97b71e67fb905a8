"""Reject requests that are too big or malformed before the app parses anything (SEC-68, SEC-69).

- TRACE / TRACK / CONNECT → 405: they echo requests (cross-site tracing) or tunnel; we serve neither.
- A CR, LF or NUL in any header name or value → 400. ASGI servers normally refuse these already; a
  second check is cheap and protects against a lenient server or proxy (response splitting, smuggling).
- A body over `max_bytes` → 413: at once when `Content-Length` says so, otherwise as soon as the
  streamed (e.g. chunked) body crosses the limit, so an endless upload cannot fill memory.
"""

from __future__ import annotations

import re
from itertools import chain

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.web.middleware._asgi import send_json_error, state

REFUSED_METHODS = frozenset({"TRACE", "TRACK", "CONNECT"})
ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_FORBIDDEN = re.compile(rb"[\r\n\x00]")


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the streamed body crosses the limit.

    An HTTPException so that FastAPI's body parsing re-raises it untouched instead of turning it
    into a generic 400; if the app lets it escape, the middleware answers 413 itself.
    """

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="The request body is too large.")


def has_forbidden_bytes(scope: Scope) -> bool:
    # One scan of all names and values at C speed: this runs on every request.
    joined = b"".join(chain.from_iterable(scope.get("headers", ())))
    return _FORBIDDEN.search(joined) is not None


def declared_length(scope: Scope) -> int | None:
    """The `Content-Length`, None when absent; -1 when unusable (non-numeric, conflicting copies)."""
    found: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            value = bytes(value).strip()
            if found is not None and value != found:
                return -1
            found = value
    if found is None:
        return None
    return int(found) if found.isdigit() and len(found) <= 18 else -1


class BodyLimitMiddleware:
    """Enforce the method blocklist, header hygiene and the request body size limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        rid = state(scope).get("request_id")
        if str(scope.get("method", "")).upper() in REFUSED_METHODS:
            await send_json_error(
                send,
                405,
                "method_not_allowed",
                "This method is not allowed.",
                rid,
                [(b"allow", ALLOWED_METHODS)],
            )
            return
        if has_forbidden_bytes(scope):
            await send_json_error(send, 400, "bad_request", "Invalid request header.", rid)
            return
        length = declared_length(scope)
        if length == -1:
            await send_json_error(send, 400, "bad_request", "Invalid Content-Length.", rid)
            return
        if length is not None and length > self.max_bytes:
            await send_json_error(send, 413, "payload_too_large", "The request body is too large.", rid)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                return  # too late to change the status; the server closes the connection
            await send_json_error(send, 413, "payload_too_large", "The request body is too large.", rid)
