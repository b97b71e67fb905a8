"""Liveness, readiness (database and Redis reachable, else 503) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ostiary.core.secrets import constant_time_equals
from ostiary.web.deps import services_of
from ostiary.web.middleware.metrics import metrics_response
from ostiary.web.policy_marks import policy

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
@policy("public")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
@policy("public")
async def readyz(request: Request) -> Response:
    checks = await services_of(request).ready()
    ok = all(checks.values())
    headers = {} if ok else {"retry-after": "5"}
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
        headers=headers,
    )


@router.get("/metrics")
@policy("public")  # guarded below: public only by configuration, else a bearer token, else absent
async def metrics(request: Request) -> Response:
    settings = services_of(request).settings
    if not settings.metrics_public:
        expected = settings.metrics_token
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not expected or not constant_time_equals(presented, expected):
            return JSONResponse({"error": "not_found", "message": "Not found."}, status_code=404)
    body, content_type = metrics_response(request.app.state.metrics_registry)
    return Response(body, media_type=content_type)
