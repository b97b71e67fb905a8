"""The request facts the services record (peer IP, user agent, request id), read from the ASGI request."""

from __future__ import annotations

from starlette.requests import Request

from ostiary.core.context import RequestMeta
from ostiary.web.middleware.client_ip import client_ip
from ostiary.web.middleware.request_id import request_id


def request_meta(request: Request) -> RequestMeta:
    return RequestMeta(
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:256],
        request_id=request_id(request),
    )
