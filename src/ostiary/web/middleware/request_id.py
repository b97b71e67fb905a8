"""A correlation id per request, shared by the access log, error bodies and the response header.

An incoming `X-Request-ID` (from our own load balancer, or a client retrying) is kept only when it
is short and made of safe characters, so it can be logged and echoed without escaping surprises and
cannot be used to stuff a log line. Anything else is replaced by a fresh random id.
"""

from __future__ import annotations

import random
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.web.middleware._asgi import header, scope_of, state

STATE_KEY = "request_id"
HEADER = b"x-request-id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{8,64}")


def new_request_id() -> str:
    """128 random bits as hex: unique enough to grep for across every worker and log sink.

    Not a secret (a caller may choose its own id, see above), so the bits come from `random`,
    seeded from the OS at start and again in every forked child, instead of a getrandom() system
    call per request (~0.5 µs in a tight loop; a native profile had suggested more)."""
    return f"{random.getrandbits(128):032x}"  # a correlation id, not a secret


def accept_request_id(raw: bytes | None) -> str:
    """The incoming id when it is well-formed, else a new one."""
    if raw is not None:
        text = raw.decode("latin-1")
        if _ACCEPTED.fullmatch(text):  # fullmatch: `$` would let a trailing newline through
            return text
    return new_request_id()


def request_id(scope_or_request: Any) -> str | None:
    """The id of the current request (a scope or a Starlette `Request`), None outside the stack."""
    value = scope_of(scope_or_request).get("state", {}).get(STATE_KEY)
    return value if isinstance(value, str) else None


class RequestIdMiddleware:
    """Set `scope["state"]["request_id"]` and echo it as the `X-Request-ID` response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        rid = accept_request_id(header(scope, HEADER))
        state(scope)[STATE_KEY] = rid
        encoded = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Replace, never duplicate, whatever an inner layer may have set.
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                headers.append((HEADER, encoded))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
