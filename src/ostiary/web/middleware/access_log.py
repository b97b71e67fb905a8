"""One JSON line per request on the `ostiary.access` logger, plus the JSON log format for everything.

What is logged is chosen for safety first (SEC-73, SEC-09): the path without its query string (a
query may carry `code`, `access_token`, `state`…), no request or response headers except a truncated
User-Agent, and every field encoded with `json.dumps(ensure_ascii=True)` so that CR, LF, quotes and
Unicode line separators sent by a client stay inside one escaped field instead of forging a new line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.core.clock import Clock, SystemClock, utc_datetime
from ostiary.web.middleware._asgi import header, route_template, state
from ostiary.web.middleware.client_ip import client_ip

ACCESS_LOGGER = "ostiary.access"
# Attribute a record may carry with ready-made structured fields; JsonFormatter renders them flat.
FIELDS_ATTR = "json_fields"
MAX_USER_AGENT = 256
MAX_PATH = 2048  # a 1 MB path must not become a 1 MB log line

# Attributes every LogRecord has; anything else on a record came from `extra=` and is worth keeping.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _iso(epoch: float) -> str:
    return utc_datetime(epoch).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=True, default=str, separators=(",", ":"))


class AccessLogMiddleware:
    """Log method, path, status, duration, client IP and User-Agent once the response is done."""

    def __init__(
        self, app: ASGIApp, logger: logging.Logger | None = None, clock: Clock | None = None
    ) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.clock = clock or SystemClock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = self.clock.now()
        started = time.perf_counter()  # monotonic: wall-clock jumps must not produce negative durations
        status = 0

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            # The error handler sits inside us and should have answered; if something still escapes
            # the server answers 500. A cancelled request (client gone) keeps status 0: no response.
            status = status or 500
            raise
        finally:
            self._log(scope, started_at, time.perf_counter() - started, status)

    def _log(self, scope: Scope, started_at: float, duration: float, status: int) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        user_agent = (header(scope, b"user-agent") or b"").decode("latin-1")[:MAX_USER_AGENT]
        fields: dict[str, Any] = {
            "time": _iso(started_at),
            "request_id": state(scope).get("request_id"),
            "method": str(scope.get("method", ""))[:16],
            # `path` never includes the query string in ASGI; it is decoded, hence the escaping.
            "path": str(scope.get("path", ""))[:MAX_PATH],
            "route": route_template(scope),
            "status": status,
            "duration_ms": round(duration * 1000, 3),
            "client_ip": client_ip(scope),
            "user_agent": user_agent,
        }
        self.logger.info(_dumps(fields), extra={FIELDS_ATTR: fields})


class JsonFormatter(logging.Formatter):
    """Render any record as one JSON line: time, level, logger, message, `extra` fields, traceback.

    A traceback is one escaped field, so a multi-line stack trace stays one line for log shippers.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, FIELDS_ATTR, None)
        if isinstance(fields, dict):
            payload.update(fields)  # already structured (the access log): don't repeat it as text
        else:
            payload["message"] = record.getMessage()
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key != FIELDS_ATTR and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return _dumps(payload)


def configure_logging(level: str | int = "info") -> None:
    """Install JsonFormatter on the root logger (called once by the CLI before serving).

    uvicorn's own access logger is silenced: it prints the full request line, query string included,
    which could leak credentials (SEC-73); `ostiary.access` replaces it.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
