"""SEC-55: every route of the application, demo API included, carries an explicit policy."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI

from helpers import Harness
from ostiary.web.authorization import require
from ostiary.web.policy_marks import endpoint_routes, policy, route_policy


def unmarked_routes(routes: Any) -> list[str]:
    return [f"{sorted(r.methods or ())} {r.path}" for r in endpoint_routes(routes) if route_policy(r) is None]


def policies(harness: Harness) -> dict[tuple[str, str], str | None]:
    return {
        (method, r.path): route_policy(r)
        for r in endpoint_routes(harness.app.api.routes)
        for method in r.methods or ()
    }


@pytest.mark.sec("SEC-55")
def test_every_route_has_an_explicit_policy(demo: Harness) -> None:
    found = policies(demo)
    assert len(found) > 40
    for key in [("GET", "/items"), ("PATCH", "/posts/{post_id}"), ("GET", "/food"), ("PATCH", "/auth/me")]:
        assert key in found
    assert unmarked_routes(demo.app.api.routes) == []


@pytest.mark.sec("SEC-55")
def test_docs_routes_count_as_public_only_when_published(tmp_path: Any) -> None:
    api = FastAPI()  # docs on: the framework's own routes
    assert unmarked_routes(api.routes) == []


@pytest.mark.sec("SEC-55")
def test_the_check_catches_an_unmarked_route() -> None:
    api = FastAPI(docs_url=None, openapi_url=None, redoc_url=None)
    router = APIRouter(prefix="/r")

    @router.get("/marked")
    @policy("public")
    async def marked() -> None: ...

    @router.get("/guarded")
    async def guarded(_: object = Depends(require("things:read"))) -> None: ...

    @router.get("/forgotten")
    async def forgotten() -> None: ...

    api.include_router(router)
    assert unmarked_routes(api.routes) == ["['GET'] /r/forgotten"]


def test_guards_name_their_action(demo: Harness) -> None:
    found = policies(demo)
    assert found[("PATCH", "/posts/{post_id}")] == "require:posts:update"
    assert found[("GET", "/admin/users")] == "permission:users:manage"
    assert found[("PUT", "/admin/policies/{rule_id}")] == "require:policies:manage"
