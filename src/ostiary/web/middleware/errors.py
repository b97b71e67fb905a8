"""The global error handler: every exception becomes a safe JSON answer (SEC-71, SEC-77, SEC-78).

- `OstiaryError` → its own status, code and message (written to be shown), plus `Retry-After` for
  the retryable ones.
- A lost database or Redis connection → 503 `unavailable` + `Retry-After: 5`: the client should
  retry, monitoring should page, and nothing was decided ("fail closed"). Recognised by class name
  and module along the MRO and the `__cause__`/`__context__` chain, so this layer imports neither
  SQLAlchemy nor redis (and sees through wrappers such as SQLAlchemy's `DBAPIError`).
- Anything else → 500 with a fixed message; the traceback goes to the `ostiary.errors` log with the
  request id, never into the body (no SQL, paths, secrets or versions).

An exception is never re-raised: one bad request must not reach the server's own handler or take
the worker down. If the response had already started, the exception is logged and the response
is left for the server to close.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.core.errors import OstiaryError, StoreUnavailable
from ostiary.web.middleware._asgi import send_json_error, state

ERRORS_LOGGER = "ostiary.errors"
STORE_RETRY_AFTER = 5

# (module, class name) pairs meaning "a backing store is unreachable", matched along the MRO.
UNAVAILABLE_CLASSES = frozenset(
    {
        ("sqlalchemy.exc", "OperationalError"),
        ("sqlalchemy.exc", "InterfaceError"),
        ("redis.exceptions", "ConnectionError"),
        ("redis.exceptions", "TimeoutError"),
        # Builtins cover raw socket failures of any driver (asyncpg, aiosqlite, redis-py):
        # ConnectionError, TimeoutError and every other OSError.
        ("builtins", "OSError"),
    }
)
_MAX_CHAIN = 16  # a cause chain can be cyclic or absurdly long; stop somewhere


def is_store_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or anything that caused it, is a connection-level store failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        if isinstance(current, StoreUnavailable):
            return True
        if any((cls.__module__, cls.__name__) in UNAVAILABLE_CLASSES for cls in type(current).__mro__):
            return True
        if isinstance(current, BaseExceptionGroup) and any(
            is_store_unavailable(inner) for inner in current.exceptions
        ):
            return True  # anyio task groups wrap the real failure
        current = current.__cause__ or current.__context__
    return False


class ErrorHandlerMiddleware:
    """Turn exceptions into JSON errors carrying the request id; never let one escape."""

    def __init__(self, app: ASGIApp, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ERRORS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            rid = state(scope).get("request_id")
            if response_started:
                self.logger.exception("exception after the response started", extra={"request_id": rid})
                return
            await self._answer(send, exc, rid)

    async def _answer(self, send: Send, exc: Exception, rid: str | None) -> None:
        if isinstance(exc, OstiaryError) and not isinstance(exc, StoreUnavailable):
            retry_after = getattr(exc, "retry_after", None)
            headers = [(b"retry-after", str(int(retry_after)).encode())] if retry_after is not None else []
            if exc.status >= 500:
                self.logger.warning("%s: %s", exc.code, exc.message, extra={"request_id": rid})
            await send_json_error(send, exc.status, exc.code, exc.message, rid, headers)
            return

        retry = [(b"retry-after", str(STORE_RETRY_AFTER).encode())]
        if is_store_unavailable(exc):
            # Logged with the traceback: an outage needs the driver's message, just not in the body.
            self.logger.error("backing store unavailable", exc_info=exc, extra={"request_id": rid})
            message = exc.message if isinstance(exc, StoreUnavailable) else StoreUnavailable().message
            await send_json_error(send, 503, StoreUnavailable.code, message, rid, retry)
            return

        self.logger.error("unhandled exception", exc_info=exc, extra={"request_id": rid})
        await send_json_error(send, 500, "server_error", "An unexpected error occurred.", rid)
