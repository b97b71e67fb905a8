"""Cross-cutting HTTP middleware as plain ASGI classes; `stack.build_middleware_stack` shows the onion."""

from ostiary.web.middleware.access_log import JsonFormatter, configure_logging
from ostiary.web.middleware.client_ip import client_ip
from ostiary.web.middleware.metrics import metrics_response
from ostiary.web.middleware.request_id import request_id
from ostiary.web.middleware.security_headers import csp_nonce
from ostiary.web.middleware.stack import MiddlewareConfig, MiddlewareStack, build_middleware_stack

__all__ = [
    "JsonFormatter",
    "MiddlewareConfig",
    "MiddlewareStack",
    "build_middleware_stack",
    "client_ip",
    "configure_logging",
    "csp_nonce",
    "metrics_response",
    "request_id",
]
